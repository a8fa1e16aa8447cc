package main

import (
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/internal/testutil"
)

// The streaming Flex Template runs kmstream with each parameter as
// --name=value; this keeps deploy/kmstream-metadata.json and the flags in
// step.
const metadataFile = "../../deploy/kmstream-metadata.json"

// leftOut are flags the template does not offer, and why.
var leftOut = map[string]string{
	"input":          "replays files, a bounded (batch) run",
	"pubsub_project": "is in the subscription's full name",
	"max_delay":      "configures the pulled read; Dataflow's source keeps its own watermark",
	"readers":        "configures the pulled read",
	"stop_after":     "is for tests and benchmarks",
	"idle_stop":      "is for tests and benchmarks",
}

// localDefault are the flags whose default is a local path: on Dataflow
// kmstream refuses it (TestDataflowPaths), so the template's regex may too.
var localDefault = map[string]bool{"model": true}

func TestStreamMetadata(t *testing.T) {
	b, err := os.ReadFile(metadataFile)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Streaming, SupportsAtLeastOnce, SupportsExactlyOnce bool
		DefaultStreamingMode                                string
		Parameters                                          []struct {
			Name       string
			IsOptional bool
			Regexes    []string
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", metadataFile, err)
	}
	if !m.Streaming || !m.SupportsAtLeastOnce || !m.SupportsExactlyOnce || m.DefaultStreamingMode != "EXACTLY_ONCE" {
		t.Errorf("want a streaming template supporting both modes, exactly-once by default: %+v", m)
	}
	own := map[string]bool{}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, match := range regexp.MustCompile(`flag\.(?:String|Int|Int64|Float64|Duration|Bool)\("(\w+)"`).FindAllStringSubmatch(string(src), -1) {
		own[match[1]] = true
	}
	declared := map[string]bool{}
	for _, p := range m.Parameters {
		declared[p.Name] = true
		f := flag.Lookup(p.Name)
		if !own[p.Name] || f == nil {
			t.Errorf("parameter %q is not a flag of kmstream", p.Name)
			continue
		}
		if len(p.Regexes) == 0 {
			t.Errorf("parameter %q has no regexes", p.Name)
		}
		for _, r := range p.Regexes {
			re, err := regexp.Compile(r)
			if err != nil || !strings.HasPrefix(r, "^") || !strings.HasSuffix(r, "$") {
				t.Errorf("parameter %q: regex %q: want an anchored regex (%v)", p.Name, r, err)
				continue
			}
			if p.IsOptional && f.DefValue != "" && !re.MatchString(f.DefValue) && !localDefault[p.Name] {
				t.Errorf("parameter %q: regex %q refuses the flag's default %q", p.Name, r, f.DefValue)
			}
		}
	}
	for name := range own {
		if _, ok := leftOut[name]; !ok && !declared[name] {
			t.Errorf("flag --%s is not a parameter of %s", name, metadataFile)
		}
	}
	for name := range leftOut {
		if declared[name] || !own[name] {
			t.Errorf("leftOut names %s, which is declared or no longer a flag", name)
		}
	}
}

// TestDataflowPaths checks that kmstream refuses, on Dataflow, the local
// defaults of --model and --output: the workers would read and write their
// own disks.
func TestDataflowPaths(t *testing.T) {
	for _, c := range []struct {
		flags map[string]string
		want  string
	}{ // --model is given last: once given, flag.Visit sees it with --datastore_project
		{map[string]string{"datastore_project": "p", "output": "gs://b/live", "history": "logs/*.csv"}, `--history="logs/*.csv" is a local path`},
		{map[string]string{"output": "gs://b/live"}, `--model="./out" is a local path`},
		{map[string]string{"model": "gs://b/out"}, `--output="./stream" is a local path`},
	} {
		t.Run(c.want, func(t *testing.T) {
			testutil.SetFlags(t, map[string]string{"runner": "dataflow", "subscription": "projects/p/subscriptions/s"})
			testutil.SetFlags(t, c.flags)
			if _, err := options(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: %v, want an error saying %s", c.flags, err, c.want)
			}
		})
	}
}
