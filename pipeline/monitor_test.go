package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"golang.org/x/net/html"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/chromium"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/monitor"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// runMonitor builds and runs the monitoring pipeline on prism.
func runMonitor(t *testing.T, o pipeline.MonitorOptions) error {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.BuildMonitor(s, o); err != nil {
		t.Fatal(err)
	}
	_, err := beam.Run(context.Background(), "prism", p)
	return err
}

// trainConformance trains every exercise of the conformance case into a
// directory, then drops the thetas of one exercise so that the monitor sees
// attempts on an exercise without thetas.
func trainConformance(t *testing.T, drop string) string {
	t.Helper()
	dir := t.TempDir()
	o := pipeline.DefaultOptions()
	o.Input = conformance + "problemlogs.csv"
	o.Components = conformance + "components.jsonl"
	o.Window = features.AllProblems
	o.MinRows = 1
	o.Output = dir
	o.Version = "conformance"
	runPipeline(t, "prism", o)

	path := filepath.Join(dir, model.ThetasFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kept []byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<24)
	dropped := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"exercise":"`+drop+`"`) {
			dropped = true
			continue
		}
		kept = append(append(kept, sc.Bytes()...), '\n')
	}
	if !dropped {
		t.Fatalf("no thetas of %s in %s", drop, path)
	}
	if err := os.WriteFile(path, kept, 0o644); err != nil {
		t.Fatal(err)
	}
	// The summary says one exercise fewer was trained, or the directory
	// would not load: its thetas would be incomplete.
	path = filepath.Join(dir, model.SummaryFile)
	if b, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	var sum map[string]any
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	sum["exercises_trained"] = sum["exercises_trained"].(float64) - 1
	if b, err = json.Marshal(sum); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// dayKey is one row of the monitor: an exercise on a day.
type dayKey struct{ day, exercise string }

// handDay is what the test computes itself for one (day, exercise).
type handDay struct {
	attempts, correct int64
	llSum             float64
	right             int64 // predicted right at 0.5
	pos, neg          []float64
}

// handMonitor replays every student of logs with predict.Model directly
// and accumulates each scored attempt's prediction per (day, exercise).
func handMonitor(m *predict.Model, logs []features.ProblemLog) (map[dayKey]*handDay, int64) {
	byUser := map[string][]features.ProblemLog{}
	for _, l := range logs {
		byUser[l.User] = append(byUser[l.User], l)
	}
	out := map[dayKey]*handDay{}
	var noThetas int64
	for _, ls := range byUser {
		features.SortLogs(ls)
		st := m.NewStudent()
		for _, l := range ls {
			p, ok := st.Predict(l.Exercise)
			if !ok {
				noThetas++
				st.Apply(l)
				continue
			}
			k := dayKey{l.TimeDone.UTC().Format("2006-01-02"), l.Exercise}
			d := out[k]
			if d == nil {
				d = &handDay{}
				out[k] = d
			}
			d.attempts++
			q := math.Min(math.Max(p, evaluate.Epsilon), 1-evaluate.Epsilon)
			if l.Correct {
				d.correct++
				d.llSum += math.Log(q)
				d.pos = append(d.pos, p)
			} else {
				d.llSum += math.Log(1 - q)
				d.neg = append(d.neg, p)
			}
			if (p >= 0.5) == l.Correct {
				d.right++
			}
			st.Apply(l)
		}
	}
	return out, noThetas
}

// auc is the Mann-Whitney AUC by brute force over every pair; NaN with one
// class only.
func auc(pos, neg []float64) float64 {
	if len(pos) == 0 || len(neg) == 0 {
		return math.NaN()
	}
	var u float64
	for _, a := range pos {
		for _, b := range neg {
			switch {
			case a > b:
				u++
			case a == b:
				u += 0.5
			}
		}
	}
	return u / float64(len(pos)*len(neg))
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

// TestMonitorConformance trains a model on the conformance case, monitors
// the same logs with it, and checks every (day, exercise) row of
// monitor.csv against a replay done here with predict.Model, the summary,
// and the dashboard.
func TestMonitorConformance(t *testing.T) {
	const drop = "ex_vectors_4"
	modelDir := trainConformance(t, drop)
	out := filepath.Join(t.TempDir(), "monitor")
	o := pipeline.DefaultMonitorOptions()
	o.Input = conformance + "problemlogs.csv"
	o.Model = modelDir
	o.Output = out
	if err := runMonitor(t, o); err != nil {
		t.Fatal(err)
	}

	m, err := predict.LoadDir(modelDir)
	if err != nil {
		t.Fatal(err)
	}
	logs := conformanceLogs(t)
	want, wantNoThetas := handMonitor(m, logs)
	var onThetas int64
	for _, l := range logs {
		if _, ok := m.Thetas[l.Exercise]; ok {
			onThetas++
		}
	}

	// monitor.csv: one row per (day, exercise) with a scored attempt,
	// sorted, every value as computed by hand.
	header, recs := readMonitorCSV(t, filepath.Join(out, monitor.CSVFile))
	if strings.Join(header, ",") != "day,exercise,attempts,correct,log_likelihood,auc,accuracy" {
		t.Fatalf("header %v", header)
	}
	if len(recs) != len(want) {
		t.Errorf("%d rows, want %d", len(recs), len(want))
	}
	if !slices.IsSortedFunc(recs, func(a, b []string) int {
		return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1])
	}) {
		t.Error("rows not sorted by day and exercise")
	}
	var sum int64
	undefinedAUC := 0
	for _, r := range recs {
		k := dayKey{r[0], r[1]}
		if k.exercise == drop {
			t.Errorf("row %v of an exercise without thetas", r)
		}
		w := want[k]
		if w == nil {
			t.Errorf("row %v: no such attempts", r)
			continue
		}
		n, _ := strconv.ParseInt(r[2], 10, 64)
		c, _ := strconv.ParseInt(r[3], 10, 64)
		sum += n
		if n != w.attempts || c != w.correct {
			t.Errorf("%v: attempts %d correct %d, want %d %d", k, n, c, w.attempts, w.correct)
		}
		ll, err := strconv.ParseFloat(r[4], 64)
		if err != nil || !near(ll, w.llSum/float64(w.attempts)) {
			t.Errorf("%v: log-likelihood %q, want %v", k, r[4], w.llSum/float64(w.attempts))
		}
		if a := auc(w.pos, w.neg); math.IsNaN(a) {
			undefinedAUC++
			if r[5] != "" {
				t.Errorf("%v: AUC %q, want empty (one class)", k, r[5])
			}
		} else if got, err := strconv.ParseFloat(r[5], 64); err != nil || !near(got, a) {
			t.Errorf("%v: AUC %q, want %v", k, r[5], a)
		}
		if acc, err := strconv.ParseFloat(r[6], 64); err != nil || !near(acc, float64(w.right)/float64(w.attempts)) {
			t.Errorf("%v: accuracy %q, want %v", k, r[6], float64(w.right)/float64(w.attempts))
		}
	}
	if sum != onThetas {
		t.Errorf("attempts sum to %d, want %d (the logs on exercises with thetas)", sum, onThetas)
	}
	if undefinedAUC == 0 {
		t.Log("no row with an undefined AUC: the empty-cell rule went untested here")
	}

	// The summary counts what was read and scored.
	b, err := os.ReadFile(filepath.Join(out, monitor.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var s monitor.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.ModelVersion != "conformance" || s.LogsRead != int64(len(logs)) || s.AttemptsScored != onThetas ||
		s.AttemptsNoThetas != wantNoThetas || wantNoThetas == 0 || len(s.NoThetasExercises) != 1 ||
		s.NoThetasExercises[0].Exercise != drop || s.Rows != len(recs) || s.Exercises != len(m.Thetas) {
		t.Errorf("summary %+v; want version conformance, %d logs, %d scored, %d on %s without thetas, %d rows",
			s, len(logs), onThetas, wantNoThetas, drop, len(recs))
	}

	checkDashboardInChromium(t, filepath.Join(out, monitor.DashboardFile), len(m.Thetas))

	// No staged file is left behind.
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left %s behind", e.Name())
		}
	}
}

func readMonitorCSV(t *testing.T, path string) (header []string, rows [][]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for _, l := range lines[1:] {
		rows = append(rows, strings.Split(l, ","))
	}
	return strings.Split(lines[0], ","), rows
}

// measureSeries is added to the dashboard before it is rendered: after
// layout it records the size of every chart and of the drawing of every
// series, so that the dumped DOM says what was drawn.
const measureSeries = `<script>
for (const svg of document.querySelectorAll("svg.chart")) {
  const r = svg.getBoundingClientRect();
  svg.setAttribute("data-rect", [r.width, r.height].map(Math.round).join(","));
  for (const g of svg.querySelectorAll("g.series")) {
    const b = g.getBBox();
    g.setAttribute("data-bbox", [b.width, b.height].map(Math.round).join(","));
  }
}
document.body.setAttribute("data-measured", "yes");
</script>`

// checkDashboardInChromium renders the dashboard in headless Chromium and
// checks, in the DOM after layout, that it has one exercise-day chart per
// exercise, each laid out with its log-likelihood and attempts series drawn
// with a non-zero size, and the ranking table.
func checkDashboardInChromium(t *testing.T, path string, exercises int) {
	t.Helper()
	bin := chromium.Find(t)
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard.html")
	measured := strings.Replace(string(page), "</body>", measureSeries+"</body>", 1)
	if err := os.WriteFile(file, []byte(measured), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, err := chromium.DumpDOM(t.Context(), bin, file, 1280, 2000)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	if b := findNodes(doc, "body", ""); len(b) != 1 || attrOf(b[0], "data-measured") != "yes" {
		t.Fatalf("the measuring script did not run; DOM:\n%.2000s", dom)
	}
	if rows := findNodes(doc, "tr", ""); len(rows) != exercises+1 {
		t.Errorf("ranking has %d rows, want %d exercises and a header", len(rows)-1, exercises)
	}
	var charts []*html.Node
	for _, svg := range findNodes(doc, "svg", "chart") {
		if attrOf(svg, "data-chart") == "exercise-day" {
			charts = append(charts, svg)
		}
	}
	if len(charts) != exercises {
		t.Fatalf(`%d svg.chart[data-chart="exercise-day"], want %d`, len(charts), exercises)
	}
	for _, svg := range charts {
		name := attrOf(svg, "aria-label")
		if r := attrOf(svg, "data-rect"); r == "" || strings.HasPrefix(r, "0,") || strings.HasSuffix(r, ",0") {
			t.Errorf("%s: laid out as %q", name, r)
		}
		series := map[string]string{}
		for _, g := range findNodes(svg, "g", "series") {
			series[attrOf(g, "data-series")] = attrOf(g, "data-bbox")
		}
		for _, want := range []string{"log-likelihood", "attempts"} {
			box, ok := series[want]
			w, h, _ := strings.Cut(box, ",")
			if !ok || box == "" || w == "0" && h == "0" {
				t.Errorf("%s: series %q drawn as %q (series %v)", name, want, box, series)
			}
		}
	}
}

func findNodes(n *html.Node, tag, class string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag && (class == "" || slices.Contains(strings.Fields(attrOf(n, "class")), class)) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// TestMonitorRefuses checks that a run writes nothing when the input holds
// no logs, or none on an exercise the model has thetas for.
func TestMonitorRefuses(t *testing.T) {
	modelDir := trainConformance(t, "ex_vectors_4")
	dir := t.TempDir()
	headerOnly := filepath.Join(dir, "empty.csv")
	others := filepath.Join(dir, "others.csv")
	os.WriteFile(headerOnly, []byte("user,time_done,exercise,problem_type,problem_number,correct\n"), 0o644)
	os.WriteFile(others, []byte("user,time_done,exercise,problem_type,problem_number,correct\n"+
		"u1,2014-01-01T00:00:00Z,ex_vectors_4,pt1,1,true\nu1,2014-01-02T00:00:00Z,unknown,pt1,1,false\n"), 0o644)
	for _, c := range []struct{ name, input, want string }{
		{"no logs", headerOnly, "no ProblemLogs"},
		{"no thetas", others, "no attempt is on an exercise"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "monitor")
			o := pipeline.DefaultMonitorOptions()
			o.Input, o.Model, o.Output = c.input, modelDir, out
			err := runMonitor(t, o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("wrote %s", out)
			}
		})
	}
}

func TestMonitorOptionsValidate(t *testing.T) {
	ok := pipeline.DefaultMonitorOptions()
	ok.Input = "x.csv"
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults with an input: %v", err)
	}
	for _, c := range []struct {
		name string
		set  func(*pipeline.MonitorOptions)
		want string
	}{
		{"no input", func(o *pipeline.MonitorOptions) { o.Input = "" }, "no input"},
		{"no model", func(o *pipeline.MonitorOptions) { o.Model = "" }, "no model"},
		{"both models", func(o *pipeline.MonitorOptions) { o.Datastore = &transforms.Datastore{Project: "p"} }, "not both"},
		{"version of a dir", func(o *pipeline.MonitorOptions) { o.Version = "v1" }, "applies to Datastore"},
		{"no output", func(o *pipeline.MonitorOptions) { o.Output = "" }, "no output"},
		{"bad table", func(o *pipeline.MonitorOptions) { o.BQOutput = &transforms.BigQueryOutput{Table: "nodots"} }, "project.dataset.table"},
	} {
		o := ok
		c.set(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}
