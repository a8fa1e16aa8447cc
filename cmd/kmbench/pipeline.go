package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/kmtrain/knowledgemodel/pipeline"
	_ "github.com/kmtrain/knowledgemodel/runners"
	"github.com/kmtrain/knowledgemodel/synth"
)

func init() {
	register.Function2x0(keyByUser)
	register.Function2x0(countGroup)
	register.Emitter2[string, string]()
	register.Iter1[string]()
}

// runPipelineBench generates logs, then runs the training pipeline and the
// baseline on them, each in a child process so that each peak RSS is its own.
func runPipelineBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kmbench pipeline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	logs := fs.Int64("logs", 1000000, "number of synthetic ProblemLogs to generate")
	runner := fs.String("runner", "prism", "Beam runner")
	which := fs.String("which", "pipeline,baseline", "what to run: pipeline, baseline or both, comma-separated")
	input := fs.String("input", "", "use this ProblemLog CSV instead of generating logs (--logs is then ignored)")
	keep := fs.Bool("keep", false, "keep the generated logs and the model written")
	runs := fs.Int("runs", 1, "run each pipeline this many times, alternating, and report the median time and the largest peak RSS")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kmbench-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	n := *logs
	path := *input
	if path == "" {
		path = filepath.Join(dir, "logs.csv")
		start := time.Now()
		if n, err = generate(path, n); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "kmbench: generated %d logs in %.1fs into %s\n", n, time.Since(start).Seconds(), path)
	} else if n, err = countLines(path); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	type measure struct {
		secs []float64
		rss  float64
	}
	var names []string
	results := map[string]*measure{}
	for _, w := range strings.Split(*which, ",") {
		names = append(names, strings.TrimSpace(w))
		results[strings.TrimSpace(w)] = &measure{}
	}
	for run := 0; run < max(1, *runs); run++ {
		for _, w := range names {
			secs, rss, err := child(self, w, *runner, path, filepath.Join(dir, "out-"+w), stderr)
			if err != nil {
				return err
			}
			m := results[w]
			m.secs = append(m.secs, secs)
			m.rss = max(m.rss, rss)
			if *runs > 1 {
				fmt.Fprintf(stderr, "kmbench: run %d %s seconds=%.2f peak_rss_mb=%.0f\n", run+1, w, secs, rss)
			}
		}
	}
	for _, w := range names {
		m := results[w]
		sort.Float64s(m.secs)
		k := len(m.secs)
		secs := (m.secs[(k-1)/2] + m.secs[k/2]) / 2 // the median, as kmbench train takes it
		fmt.Fprintf(stdout, "%s logs=%d seconds=%.2f logs_per_s=%.0f peak_rss_mb=%.0f\n", w, n, secs, float64(n)/secs, m.rss)
	}
	return nil
}

// child runs one measured pipeline in a process of its own and returns its
// wall time and peak resident memory.
func child(self, which, runner, input, output string, stderr io.Writer) (secs, rssMB float64, err error) {
	cmd := exec.Command(self, "pipeline-child", which, runner, input, output)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	if os.Getenv("KMBENCH_VERBOSE") != "" {
		cmd.Stderr = stderr
	}
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%s: %v: %s", which, err, out.String())
	}
	secs, err = strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%s printed %q", which, out.String())
	}
	return secs, float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024, nil // KiB on Linux
}

// runPipelineChild runs one pipeline and prints its wall time in seconds:
// pipeline-child WHICH RUNNER INPUT OUTPUT.
func runPipelineChild(args []string, stdout io.Writer) error {
	if len(args) != 4 {
		return errors.New("usage: pipeline-child pipeline|baseline RUNNER INPUT OUTPUT")
	}
	which, runner, input, output := args[0], args[1], args[2], args[3]
	p, s := beam.NewPipelineWithRoot()
	switch which {
	case "pipeline":
		o := pipeline.DefaultOptions()
		o.Input, o.Output, o.Version = input, output, "bench"
		if err := pipeline.Build(s, o); err != nil {
			return err
		}
	case "baseline":
		baseline(s, input)
	default:
		return fmt.Errorf("unknown pipeline %q", which)
	}
	stop, err := startCPUProfile()
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()
	if _, err := beam.Run(context.Background(), runner, p); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%.3f\n", time.Since(start).Seconds())
	return nil
}

// baseline is the naive pipeline the design is measured against: one
// element per log, keyed by user, through a GroupByKey, and nothing else.
func baseline(s beam.Scope, input string) {
	s = s.Scope("Baseline")
	lines := textio.Read(s, input)
	grouped := beam.GroupByKey(s, beam.ParDo(s, keyByUser, lines))
	beam.ParDo0(s, countGroup, grouped)
}

func keyByUser(line string, emit func(string, string)) {
	if user, _, ok := strings.Cut(line, ","); ok && user != "user" {
		emit(user, line)
	}
}

func countGroup(_ string, logs func(*string) bool) {
	var l string
	for logs(&l) {
	}
}

func generate(path string, logs int64) (int64, error) {
	c := synth.DefaultConfig()
	students, err := synth.EstimateStudents(c, logs)
	if err != nil {
		return 0, err
	}
	c.Students = students
	g, err := synth.New(c)
	if err != nil {
		return 0, err
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	st, err := g.WriteCSV(w, synth.CSVOptions{})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return st.Logs, err
}

// countLines returns the number of logs in the CSV file at path (gzipped
// if its name ends in .gz): its lines, the last with or without a newline,
// less the header.
func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		r = zr
	}
	var n int64
	last := byte('\n')
	buf := make([]byte, 1<<20)
	for {
		k, err := r.Read(buf)
		if k > 0 {
			n += int64(bytes.Count(buf[:k], []byte("\n")))
			last = buf[k-1]
		}
		if err == io.EOF {
			if last != '\n' {
				n++ // a last line without a newline
			}
			return max(n-1, 0), nil // the header
		}
		if err != nil {
			return 0, err
		}
	}
}

// startCPUProfile profiles the process into $KMBENCH_CPUPROFILE, if set,
// until stop is called.
func startCPUProfile() (stop func(), err error) {
	path := os.Getenv("KMBENCH_CPUPROFILE")
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
