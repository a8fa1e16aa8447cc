package deploy

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Metadata mirrors the Dataflow API's TemplateMetadata (projects.locations.
// flexTemplates, v1b3): metadata.json is decoded into it with unknown fields
// refused, since gcloud drops what it does not know without a word.
type Metadata struct {
	Name                 string      `json:"name"`
	Description          string      `json:"description"`
	Parameters           []Parameter `json:"parameters"`
	Streaming            *bool       `json:"streaming,omitempty"`
	DefaultStreamingMode string      `json:"defaultStreamingMode,omitempty"`
	SupportsAtLeastOnce  *bool       `json:"supportsAtLeastOnce,omitempty"`
	SupportsExactlyOnce  *bool       `json:"supportsExactlyOnce,omitempty"`
	YAMLDefinition       string      `json:"yamlDefinition,omitempty"`
}

// Parameter mirrors the API's ParameterMetadata.
type Parameter struct {
	Name                string            `json:"name"`
	Label               string            `json:"label"`
	HelpText            string            `json:"helpText"`
	IsOptional          bool              `json:"isOptional"`
	Regexes             []string          `json:"regexes"`
	ParamType           string            `json:"paramType,omitempty"`
	CustomMetadata      map[string]string `json:"customMetadata,omitempty"`
	DefaultValue        string            `json:"defaultValue,omitempty"`
	EnumOptions         []json.RawMessage `json:"enumOptions,omitempty"`
	GroupName           string            `json:"groupName,omitempty"`
	HiddenUI            bool              `json:"hiddenUi,omitempty"`
	ParentName          string            `json:"parentName,omitempty"`
	ParentTriggerValues []string          `json:"parentTriggerValues,omitempty"`
}

// paramTypes is the API's ParameterMetadata.ParamType enum.
var paramTypes = []string{
	"DEFAULT", "TEXT", "GCS_READ_BUCKET", "GCS_WRITE_BUCKET", "GCS_READ_FILE", "GCS_WRITE_FILE",
	"GCS_READ_FOLDER", "GCS_WRITE_FOLDER", "PUBSUB_TOPIC", "PUBSUB_SUBSCRIPTION", "BIGQUERY_TABLE",
	"JAVASCRIPT_UDF_FILE", "SERVICE_ACCOUNT", "MACHINE_TYPE", "KMS_KEY_NAME", "WORKER_REGION", "WORKER_ZONE",
	"BOOLEAN", "ENUM", "NUMBER", "KAFKA_TOPIC", "KAFKA_READ_TOPIC", "KAFKA_WRITE_TOPIC",
}

func readMetadata(t *testing.T) Metadata {
	t.Helper()
	b, err := os.ReadFile("metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Metadata
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("metadata.json: %v", err)
	}
	if dec.More() {
		t.Fatal("metadata.json: data after the object")
	}
	return m
}

// Examples are values a parameter's regexes must accept and refuse.
type Examples struct {
	Good []string `json:"good"`
	Bad  []string `json:"bad"`
}

func readExamples(t *testing.T) map[string]Examples {
	t.Helper()
	b, err := os.ReadFile("testdata/regex_examples.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	ex := map[string]Examples{}
	for name, r := range raw {
		if strings.HasPrefix(name, "_") {
			continue
		}
		var e Examples
		if err := json.Unmarshal(r, &e); err != nil {
			t.Fatalf("regex_examples.json %s: %v", name, err)
		}
		ex[name] = e
	}
	return ex
}

// Dataflow checks parameter values with Java regexes, the tests with Go's
// RE2. These constructs mean something else in one of them, or do not exist
// in the other; the rest of the common syntax behaves the same.
var nonPortable = []string{
	"[[:",  // POSIX classes: RE2 only (Java reads "[[:alpha:]]" as a set of characters)
	"(?P<", // RE2/Python named groups; Java spells them (?<name>)
	"(?U",  // RE2: ungreedy; Java: Unicode character classes
	"\\C",  // RE2: any byte
	"\\Z",  // Java: end of input before a final newline; RE2: no such thing
	"(?m",  // multi-line ^ and $: keep the anchors on the whole value
}

func TestMetadata(t *testing.T) {
	m := readMetadata(t)
	if m.Name == "" || m.Description == "" {
		t.Error("metadata.json needs a name and a description")
	}
	if m.Streaming == nil || *m.Streaming {
		t.Error(`kmtrain is a batch pipeline: want "streaming": false`)
	}
	if len(m.Parameters) == 0 {
		t.Fatal("metadata.json declares no parameters")
	}
	names := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	seen := map[string]bool{}
	for _, p := range m.Parameters {
		if !names.MatchString(p.Name) {
			t.Errorf("parameter %q: want a flag name, lower case with underscores", p.Name)
		}
		if seen[p.Name] {
			t.Errorf("parameter %q declared twice", p.Name)
		}
		seen[p.Name] = true
		// gcloud dataflow flex-template build refuses a parameter without these.
		if p.Label == "" || p.HelpText == "" {
			t.Errorf("parameter %q: gcloud wants a label and a helpText", p.Name)
		}
		if p.ParamType != "" && !slices.Contains(paramTypes, p.ParamType) {
			t.Errorf("parameter %q: paramType %q is not one of the API's %v", p.Name, p.ParamType, paramTypes)
		}
		if len(p.Regexes) == 0 {
			t.Errorf("parameter %q has no regexes: Dataflow would pass any value to kmtrain", p.Name)
		}
		for _, r := range p.Regexes {
			if _, err := regexp.Compile(r); err != nil {
				t.Errorf("parameter %q: regex %q: %v", p.Name, r, err)
			}
			// Whether Dataflow finds or fully matches a regex, an anchored
			// one means the same.
			if !strings.HasPrefix(strings.TrimPrefix(strings.TrimPrefix(r, "(?is)"), "(?i)"), "^") || !strings.HasSuffix(r, "$") {
				t.Errorf("parameter %q: regex %q is not anchored with ^ and $", p.Name, r)
			}
			for _, c := range nonPortable {
				if strings.Contains(r, c) {
					t.Errorf("parameter %q: regex %q uses %q, which Java and RE2 read differently", p.Name, r, c)
				}
			}
		}
		switch p.ParamType {
		case "BOOLEAN":
			if !slices.Equal(p.Regexes, []string{"^(true|false)$"}) {
				t.Errorf("BOOLEAN parameter %q: want the regex ^(true|false)$, have %q", p.Name, p.Regexes)
			}
		case "ENUM":
			if len(p.EnumOptions) == 0 {
				t.Errorf("ENUM parameter %q has no enumOptions", p.Name)
			}
		}
	}
	// The launcher sets these itself from the launch environment; a
	// parameter of the same name would fight it.
	for _, env := range []string{"project", "region", "job_name", "runner", "temp_location", "staging_location",
		"service_account_email", "worker_machine_type", "machine_type", "max_num_workers", "num_workers",
		"network", "subnetwork", "template_location", "worker_binary", "labels", "experiments"} {
		if seen[env] {
			t.Errorf("parameter %q is a Dataflow option the launcher passes itself; drop it from metadata.json", env)
		}
	}
}

// TestMetadataRegexes checks every parameter's regexes against the good and
// bad values of testdata/regex_examples.json.
func TestMetadataRegexes(t *testing.T) {
	m := readMetadata(t)
	ex := readExamples(t)
	declared := map[string]bool{}
	for _, p := range m.Parameters {
		declared[p.Name] = true
		e, ok := ex[p.Name]
		if !ok || len(e.Good) == 0 || len(e.Bad) == 0 {
			t.Errorf("parameter %q: give it good and bad examples in testdata/regex_examples.json", p.Name)
			continue
		}
		var res []*regexp.Regexp
		for _, r := range p.Regexes {
			re, err := regexp.Compile(r)
			if err != nil {
				t.Fatalf("parameter %q: %v", p.Name, err)
			}
			res = append(res, re)
		}
		// Dataflow wants a value to match every regex of its parameter.
		matches := func(v string) bool {
			for _, re := range res {
				if !re.MatchString(v) {
					return false
				}
			}
			return true
		}
		for _, v := range e.Good {
			if !matches(v) {
				t.Errorf("parameter %q: %q refused by %q", p.Name, v, p.Regexes)
			}
		}
		for _, v := range e.Bad {
			if matches(v) {
				t.Errorf("parameter %q: %q accepted by %q", p.Name, v, p.Regexes)
			}
		}
	}
	for name := range ex {
		if !declared[name] {
			t.Errorf("regex_examples.json has examples for %q, which metadata.json does not declare", name)
		}
	}
}

// dockerfile is a Dockerfile read into its instructions, with continuation
// lines joined and comments dropped.
type dockerfile struct {
	args   map[string]string // global ARGs (before the first FROM) and their defaults
	stages []stage
}

type stage struct {
	image, name string
	lines       []instruction
}

type instruction struct{ cmd, rest string }

func readDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var joined []string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		joined = append(joined, cur.String())
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur.Len() > 0 {
		t.Fatalf("%s ends in a continuation line", path)
	}
	d := dockerfile{args: map[string]string{}}
	argRef := regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)
	for _, l := range joined {
		cmd, rest, _ := strings.Cut(l, " ")
		cmd, rest = strings.ToUpper(cmd), strings.TrimSpace(rest)
		switch {
		case cmd == "ARG" && len(d.stages) == 0:
			k, v, _ := strings.Cut(rest, "=")
			d.args[k] = v
		case cmd == "FROM":
			fields := strings.Fields(argRef.ReplaceAllStringFunc(rest, func(ref string) string {
				name := strings.Trim(ref, "${}")
				v, ok := d.args[name]
				if !ok {
					t.Errorf("FROM %s: ARG %s has no default", rest, name)
				}
				return v
			}))
			var s stage
			for i := 0; i < len(fields); i++ {
				switch {
				case strings.HasPrefix(fields[i], "--"):
				case strings.EqualFold(fields[i], "AS") && i+1 < len(fields):
					s.name = fields[i+1]
					i++
				default:
					s.image = fields[i]
				}
			}
			d.stages = append(d.stages, s)
		case len(d.stages) > 0:
			last := &d.stages[len(d.stages)-1]
			last.lines = append(last.lines, instruction{cmd, rest})
		}
	}
	return d
}

// launcherImage is Google's Go Flex Template launcher base image at a dated
// release tag.
var launcherImage = regexp.MustCompile(`^gcr\.io/dataflow-templates-base/go-template-launcher-base(-distroless)?:flex_templates_base_image_release_(\d{8})_RC\d{2}$`)

func TestDockerfile(t *testing.T) {
	d := readDockerfile(t, "Dockerfile")
	if len(d.stages) != 2 {
		t.Fatalf("want two stages (build, launcher), have %d", len(d.stages))
	}
	build, final := d.stages[0], d.stages[1]

	// The build stage: a pinned Go toolchain no older than go.mod asks for.
	goImage := regexp.MustCompile(`^golang:(1\.\d+\.\d+)(-[a-z0-9.]+)?$`)
	gm := goImage.FindStringSubmatch(build.image)
	if gm == nil {
		t.Errorf("build stage FROM %q: want golang:1.N.P[-variant], pinned to a patch release", build.image)
	} else if want := goDirective(t); versionLess(gm[1], want) {
		t.Errorf("build stage Go %s is older than go.mod's go %s: go build would download a toolchain", gm[1], want)
	}
	var binary string
	for _, in := range build.lines {
		if in.cmd != "RUN" || !strings.Contains(in.rest, "go build") {
			continue
		}
		for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "-trimpath", "./cmd/kmtrain", "./cmd/kmstream"} {
			if !slices.Contains(strings.Fields(in.rest), want) {
				t.Errorf("RUN %s: want %s", in.rest, want)
			}
		}
		if m := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(in.rest); m != nil {
			binary = m[1]
		}
	}
	if binary == "" {
		t.Fatal("the build stage has no RUN ... go build -o BINARY ./cmd/kmtrain")
	}

	// The final stage: the launcher base image, pinned, with the binary where
	// FLEX_TEMPLATE_GO_BINARY says.
	lm := launcherImage.FindStringSubmatch(final.image)
	if lm == nil {
		t.Errorf("final stage FROM %q: want %s (a dated release, not :latest)", final.image, launcherImage)
	} else if _, err := time.Parse("20060102", lm[2]); err != nil {
		t.Errorf("launcher tag %q: date %s: %v", final.image, lm[2], err)
	}
	var copied, env string
	for _, in := range final.lines {
		switch in.cmd {
		case "COPY":
			f := strings.Fields(in.rest)
			if len(f) == 3 && (f[0] == "--from="+build.name || f[0] == "--from=0") && f[1] == binary {
				copied = f[2]
			}
		case "ENV":
			if k, v, ok := strings.Cut(in.rest, "="); ok && k == "FLEX_TEMPLATE_GO_BINARY" {
				env = strings.Trim(v, `"`)
			}
		case "ENTRYPOINT", "CMD":
			t.Errorf("%s %s: the launcher base image's entrypoint must stay", in.cmd, in.rest)
		}
	}
	if copied == "" {
		t.Errorf("the final stage does not COPY --from=%s %s", build.name, binary)
	}
	// Both binaries are built into one directory; TEMPLATE_BINARY (kmtrain
	// unless the build says otherwise) is the one the launcher runs.
	if which := d.args["TEMPLATE_BINARY"]; which != "kmtrain" {
		t.Errorf("ARG TEMPLATE_BINARY=%q: want kmtrain by default", which)
	} else {
		env = strings.ReplaceAll(env, "${TEMPLATE_BINARY}", which)
		copied += which
	}
	if env == "" || env != copied {
		t.Errorf("FLEX_TEMPLATE_GO_BINARY=%q, want the copied binary %q", env, copied)
	}
}

// goDirective returns go.mod's go version.
func goDirective(t *testing.T) string {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)\s*$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

// versionLess reports whether Go version a (1.N[.P]) is older than b.
func versionLess(a, b string) bool {
	parse := func(v string) []int {
		var n []int
		for _, s := range strings.Split(v, ".") {
			i, _ := strconv.Atoi(s)
			n = append(n, i)
		}
		for len(n) < 3 {
			n = append(n, 0)
		}
		return n
	}
	return slices.Compare(parse(a), parse(b)) < 0
}

func TestDeployMakefile(t *testing.T) {
	b, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := string(b)
	for _, want := range []string{
		"--platform=linux/amd64 -f $(ROOT)/deploy/Dockerfile",
		"dataflow flex-template build $(TEMPLATE)",
		"--sdk-language=GO",
		"--metadata-file=$(ROOT)/deploy/metadata.json",
		"dataflow flex-template run",
		"--template-file-gcs-location=$(TEMPLATE)",
		"-docker.pkg.dev/$(PROJECT)/$(REPO)/kmtrain:$(TAG)",
	} {
		if !strings.Contains(mk, want) {
			t.Errorf("Makefile: no %q", want)
		}
	}
	if _, err := os.Stat("cloudbuild.yaml"); err != nil {
		t.Errorf("Makefile's cloud-image needs cloudbuild.yaml: %v", err)
	}

	// What the targets would run, where make is installed.
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make here")
	}
	cmd := exec.Command("make", "-n", "-f", "Makefile", "image", "template", "run",
		"PROJECT=kmtrain-test", "TAG=abc123", "BQ_TABLE=kmtrain-test.logs.problemlogs", "GCLOUD=gcloud", "DOCKER=docker")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n: %v\n%s", err, out)
	}
	image := "us-central1-docker.pkg.dev/kmtrain-test/kmtrain/kmtrain:abc123"
	root, _ := filepath.Abs("..")
	for _, want := range []string{
		"docker build --platform=linux/amd64 -f " + root + "/deploy/Dockerfile -t " + image + " " + root,
		"docker push " + image,
		"gcloud dataflow flex-template build gs://kmtrain-test-kmtrain/templates/kmtrain.json",
		"--image=" + image + " --sdk-language=GO --metadata-file=" + root + "/deploy/metadata.json",
		"gcloud dataflow flex-template run \"kmtrain-",
		`"--parameters=bq_table=kmtrain-test.logs.problemlogs,start=-90d,end=today,bq_project=kmtrain-test,datastore_project=kmtrain-test"`,
		"--service-account-email=kmtrain-worker@kmtrain-test.iam.gserviceaccount.com",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make -n image template run: no %q in\n%s", want, out)
		}
	}
	// The parameters run passes must be template parameters with values
	// their regexes accept.
	m := regexp.MustCompile(`--parameters=([^"\s]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatal("run passes no --parameters")
	}
	regexes := map[string][]string{}
	for _, p := range readMetadata(t).Parameters {
		regexes[p.Name] = p.Regexes
	}
	for _, kv := range strings.Split(string(m[1]), ",") {
		k, v, _ := strings.Cut(kv, "=")
		rs, ok := regexes[k]
		if !ok {
			t.Errorf("run passes %s, not a template parameter", k)
		}
		for _, r := range rs {
			if !regexp.MustCompile(r).MatchString(v) {
				t.Errorf("run passes %s=%q, which %q refuses", k, v, r)
			}
		}
	}
}

// TestTerraformFiles is a check of the Terraform that needs no HCL parser:
// terraform_test.go (build tag hcl until hashicorp/hcl/v2 is in go.mod)
// parses and evaluates it, and terraform/tests/schedule.tftest.hcl plans it
// with `terraform test`.
func TestTerraformFiles(t *testing.T) {
	files, err := filepath.Glob("terraform/*.tf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no terraform/*.tf (%v)", err)
	}
	var all strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
		all.WriteByte('\n')
	}
	tf := all.String()
	declared := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^variable "(\w+)"`).FindAllStringSubmatch(tf, -1) {
		declared[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`\bvar\.(\w+)`).FindAllStringSubmatch(tf, -1) {
		if !declared[m[1]] {
			t.Errorf("var.%s is not declared", m[1])
		}
	}
	for _, want := range []string{
		`resource "google_cloud_scheduler_job"`,
		`"https://dataflow.googleapis.com/v1b3/projects/${var.project}/locations/${var.region}/flexTemplates:launch"`,
		`scope                 = "https://www.googleapis.com/auth/cloud-platform"`,
		`body        = base64encode(jsonencode(`,
		`"roles/dataflow.worker"`, `"roles/dataflow.developer"`, `"roles/iam.serviceAccountUser"`,
		`"roles/bigquery.jobUser"`, `"roles/bigquery.readSessionUser"`, `"roles/bigquery.dataViewer"`,
		`"roles/datastore.user"`, `"roles/storage.objectAdmin"`, `"roles/artifactregistry.reader"`,
	} {
		if !strings.Contains(tf, want) {
			t.Errorf("terraform/*.tf: no %s", want)
		}
	}
	if _, err := os.Stat("terraform/tests/schedule.tftest.hcl"); err != nil {
		t.Error(err)
	}
}

// javaRegexCheck reads lines of base64(regex) base64(value) and prints, for
// each, whether java.util.regex matches the whole value and finds a match in
// it, or "E" and the error.
const javaRegexCheck = `import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.regex.*;

public class RegexCheck {
  public static void main(String[] args) throws IOException {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    Base64.Decoder dec = Base64.getDecoder();
    for (String line; (line = in.readLine()) != null; ) {
      String[] f = line.split(" ", -1);
      String re = new String(dec.decode(f[0]), StandardCharsets.UTF_8);
      String v = new String(dec.decode(f[1]), StandardCharsets.UTF_8);
      try {
        Pattern p = Pattern.compile(re);
        System.out.println((p.matcher(v).matches() ? "1" : "0") + (p.matcher(v).find() ? "1" : "0"));
      } catch (PatternSyntaxException e) {
        System.out.println("E " + e.getDescription());
      }
    }
  }
}
`

// TestMetadataRegexesJava checks that Java, whose regexes Dataflow checks
// parameter values with, agrees with Go on every example, whether Dataflow
// matches whole values or finds matches in them. It needs a JDK 11 or later
// (java runs the single-file program with the JDK's compiler) and skips
// without one: a JRE alone, like CI's for the Datastore emulator, cannot.
func TestMetadataRegexesJava(t *testing.T) {
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("no java here")
	}
	if _, err := exec.LookPath("javac"); err != nil {
		t.Skip("no JDK here (java without javac): cannot run a single-file Java program")
	}
	type check struct {
		param, regex, value string
		goMatch             bool
	}
	var checks []check
	var stdin strings.Builder
	ex := readExamples(t)
	for _, p := range readMetadata(t).Parameters {
		for _, r := range p.Regexes {
			re, err := regexp.Compile(r)
			if err != nil {
				continue // TestMetadata
			}
			for _, v := range slices.Concat(ex[p.Name].Good, ex[p.Name].Bad) {
				checks = append(checks, check{p.Name, r, v, re.MatchString(v)})
				stdin.WriteString(base64.StdEncoding.EncodeToString([]byte(r)) + " " + base64.StdEncoding.EncodeToString([]byte(v)) + "\n")
			}
		}
	}
	src := filepath.Join(t.TempDir(), "RegexCheck.java")
	if err := os.WriteFile(src, []byte(javaRegexCheck), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(java, src)
	cmd.Stdin = strings.NewReader(stdin.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("java %s: %v\n%s", src, err, stderr.Bytes())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(checks) {
		t.Fatalf("java answered %d lines for %d checks:\n%s", len(lines), len(checks), out)
	}
	for i, c := range checks {
		want := "00"
		if c.goMatch {
			want = "11"
		}
		if lines[i] != want {
			t.Errorf("parameter %q: regex %q on %q: Go matches %v, Java (matches, find) %q", c.param, c.regex, c.value, c.goMatch, lines[i])
		}
	}
}
