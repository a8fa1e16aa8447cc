package report

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/kmtrain/knowledgemodel/internal/chromium"
)

func TestWidenAndLinear(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		name           string
		d0, d1         float64
		wantLo, wantHi float64
	}{
		{"ordinary", -0.7, -0.4, -0.7, -0.4},
		{"reversed", 1, 0, 0, 1},
		{"constant negative", -0.5, -0.5, -0.55, -0.45},
		{"constant zero", 0, 0, -1, 1},
		{"constant positive", 200, 200, 180, 220},
		{"NaN both", nan, nan, 0, 1},
		{"NaN low", nan, -0.3, -0.33, -0.27},
		{"Inf high", -0.3, inf, -0.33, -0.27},
		{"tiny span", 1, 1 + 1e-15, 0.9, 1.1},
	} {
		t.Run(c.name, func(t *testing.T) {
			lo, hi := widen(c.d0, c.d1)
			if math.Abs(lo-c.wantLo) > 1e-9 || math.Abs(hi-c.wantHi) > 1e-9 {
				t.Errorf("widen(%v, %v) = %v, %v; want %v, %v", c.d0, c.d1, lo, hi, c.wantLo, c.wantHi)
			}
			s := newLinear(c.d0, c.d1, 10, 110)
			for _, v := range []float64{lo, (lo + hi) / 2, hi} {
				if got := s.at(v); !finite(got) {
					t.Errorf("at(%v) = %v", v, got)
				}
			}
			if got := s.at(lo); math.Abs(got-10) > 1e-9 {
				t.Errorf("at(lo) = %v, want 10", got)
			}
			if got := s.at(hi); math.Abs(got-110) > 1e-9 {
				t.Errorf("at(hi) = %v, want 110", got)
			}
		})
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		name      string
		lo, hi    float64
		n         int
		wantTicks string
	}{
		{"unit", 0, 1, 5, "0.0 0.2 0.4 0.6 0.8 1.0"},
		{"log-likelihoods", -0.713, -0.402, 5, "-0.75 -0.70 -0.65 -0.60 -0.55 -0.50 -0.45 -0.40"},
		{"straddles zero", -0.03, 0.02, 4, "-0.03 -0.02 -0.01 0.00 0.01 0.02"},
		{"counts", 0, 1873, 4, "0 500 1000 1500 2000"},
		{"constant", -0.5, -0.5, 4, "-0.56 -0.54 -0.52 -0.50 -0.48 -0.46 -0.44"},
		{"zero", 0, 0, 4, "-1.0 -0.5 0.0 0.5 1.0"},
		{"NaN", math.NaN(), math.NaN(), 4, "0.0 0.2 0.4 0.6 0.8 1.0"},
		{"big", 0, 3.2e6, 4, "0 1000000 2000000 3000000 4000000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lo, hi, step := niceDomain(c.lo, c.hi, c.n)
			var labels []string
			for _, v := range ticks(lo, hi, step) {
				labels = append(labels, tickLabel(v, step))
			}
			if got := strings.Join(labels, " "); got != c.wantTicks {
				t.Errorf("ticks of [%v, %v] = %q, want %q", c.lo, c.hi, got, c.wantTicks)
			}
			if finite(c.lo) && (lo > c.lo || hi < c.hi) {
				t.Errorf("nice domain [%v, %v] does not hold [%v, %v]", lo, hi, c.lo, c.hi)
			}
		})
	}
	if got := ticks(0, 1, 0); got != nil {
		t.Errorf("ticks with step 0 = %v", got)
	}
	if got := len(ticks(0, 1e9, 1)); got != 50 {
		t.Errorf("ticks are capped at 50, got %d", got)
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{countLabel(950), "950"}, {countLabel(1200), "1.2k"}, {countLabel(1000), "1k"}, {countLabel(34567), "35k"}, {countLabel(1.5e6), "1.5M"},
		{commas(0), "0"}, {commas(999), "999"}, {commas(1000), "1,000"}, {commas(60146), "60,146"}, {commas(-1234567), "-1,234,567"},
		{fixed(-0.00001, 4), "0.0000"}, {fixed(math.NaN(), 4), "—"}, {fixed(math.Inf(-1), 3), "—"}, {fixed(-0.52134, 4), "-0.5213"},
		{signed(0.0123), "+0.0123"}, {signed(-0.0123), "-0.0123"}, {signed(0), "0.0000"}, {signed(math.NaN()), "—"},
		{pct(0.7444), "74.4%"}, {pct(math.NaN()), "—"},
		{num(12.345), "12.3"}, {num(12), "12"}, {num(math.NaN()), "0"},
		{tickLabel(-0.6000000001, 0.05), "-0.60"}, {tickLabel(1e-17, 0.1), "0.0"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestPathBuilder(t *testing.T) {
	var p pathBuilder
	p.Break() // a break before any point changes nothing
	p.To(1, 2)
	p.To(3, 4.04)
	p.Break()
	p.To(5, 6)
	if got, want := p.String(), "M1 2 L3 4 M5 6"; got != want {
		t.Errorf("path %q, want %q", got, want)
	}
}

// TestLegendInsideChart checks that legends with long names wrap onto
// rows that stay inside the chart, above the plot.
func TestLegendInsideChart(t *testing.T) {
	bins := []CalibrationBin{{Lo: 0, Hi: 0.5, Count: 10, MeanPredicted: 0.3, Observed: 0.4}, {Lo: 0.5, Hi: 1, Count: 20, MeanPredicted: 0.7, Observed: 0.6}}
	long := "a model with a rather long descriptive name"
	var models []ModelMetrics
	for _, name := range []string{long, "no_knowledge " + long, "prior_only " + long} {
		models = append(models, ModelMetrics{Name: name, Calibration: Calibration{Bins: bins}})
	}
	exercises := []ExerciseRow{
		{Exercise: "better", Attempts: 10, LogLikelihood: -0.5, BaselineLogLikelihood: -0.6, HasThetas: true},
		{Exercise: "worse", Attempts: 10, LogLikelihood: -0.6, BaselineLogLikelihood: -0.5, HasThetas: true},
		{Exercise: "same", Attempts: 10, LogLikelihood: -0.55, BaselineLogLikelihood: -0.55 + 1e-16, HasThetas: true},
	}
	scatter, _ := exerciseScatter(exercises, "the baseline model with a long name of its own")
	for _, tc := range []struct {
		name     string
		c        *svgChart
		wantRows int
	}{
		{"calibration", calibrationChart(models), 3},
		{"calibration, one model", calibrationChart(models[:1]), 1},
		{"exercise-ll", scatter, 3},
	} {
		rows := map[float64]bool{}
		for _, l := range tc.c.Legend {
			right := l.X + 16 + 6.5*float64(len([]rune(l.Text)))
			if l.X < 0 || right > float64(tc.c.W) || l.Y < 0 || l.Y+10 > float64(tc.c.H) {
				t.Errorf("%s: legend %q from (%g, %g) to (%g, %g) outside the %d×%d chart", tc.name, l.Text, l.X, l.Y, right, l.Y+10, tc.c.W, tc.c.H)
			}
			rows[l.Y] = true
		}
		if len(rows) != tc.wantRows {
			t.Errorf("%s: legend in %d rows, want %d", tc.name, len(rows), tc.wantRows)
		}
	}
	// The scatter's legend counts each series, and its CSV is its points.
	var got []string
	for _, l := range scatter.Legend {
		got = append(got, l.Text)
	}
	want := []string{"model better (1)", "the baseline model with a long name of its own better (1)", "same as the baseline model with a long name of its own (1)"}
	if !slices.Equal(got, want) {
		t.Errorf("scatter legend %q, want %q", got, want)
	}
	data, err := url.PathUnescape(strings.TrimPrefix(string(scatter.CSV.Href), "data:text/csv;charset=utf-8,"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(data, "exercise,attempts,baseline_log_likelihood,log_likelihood,change,series\n") || !strings.Contains(data, "\nsame,10,") || scatter.CSV.Name != "exercise-ll.csv" {
		t.Errorf("scatter CSV %s:\n%s", scatter.CSV.Name, data)
	}
}

func render(t *testing.T, write func(*bytes.Buffer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestEvalReport(t *testing.T) {
	r := sampleEval(40)
	page := render(t, func(b *bytes.Buffer) error { return WriteEvalReport(b, r) })
	doc := parseHTML(t, page)
	charts := checkCharts(t, doc)
	if len(charts["calibration"]) != 1 || len(charts["exercise-ll"]) != 1 {
		t.Fatalf("charts %v, want one calibration and one exercise-ll", charts)
	}
	// Calibration: one series per model with bins (the third has none),
	// one point per non-empty bin.
	cal := findAll(charts["calibration"][0], element("g", "series"))
	if len(cal) != 2 || attr(cal[0], "data-series") != "model" || attr(cal[1], "data-series") != r.Models[1].Name {
		t.Errorf("calibration series %d, want model and %q", len(cal), r.Models[1].Name)
	}
	for _, g := range cal {
		if p, c, _ := drawn(g); p != 1 || c != 9 {
			t.Errorf("calibration series %q: %d paths, %d points; want 1, 9", attr(g, "data-series"), p, c)
		}
	}
	// Scatter: every exercise with thetas once, named in its hover title,
	// above the diagonal when the model is better.
	pts := findAll(charts["exercise-ll"][0], element("circle", ""))
	if len(pts) != 39 {
		t.Errorf("%d points in the scatter, want 39 (40 exercises, one without thetas)", len(pts))
	}
	titles := map[string]bool{}
	for _, c := range pts {
		titles[strings.SplitN(textOf(c), ": model", 2)[0]] = true
	}
	for _, e := range r.Exercises {
		if titles[e.Exercise] != e.HasThetas {
			t.Errorf("exercise %q in the scatter: %v, has thetas: %v", e.Exercise, titles[e.Exercise], e.HasThetas)
		}
	}
	for _, g := range findAll(charts["exercise-ll"][0], element("g", "series")) {
		for _, c := range findAll(g, element("circle", "")) {
			cx, cy := attr(c, "cx"), attr(c, "cy")
			// The plot is a 408-pixel square from (56, H-40) to (464,
			// H-448) over the same domain on both axes; the legend's rows
			// above it set the chart's height H.
			bottom := parsePx(t, attr(charts["exercise-ll"][0], "height")) - 40
			x, y := parsePx(t, cx)-56, bottom-parsePx(t, cy)
			above := y >= x
			if want := attr(g, "data-series") == "model better"; above != want && math.Abs(y-x) > 0.2 {
				t.Errorf("series %q: point (%s, %s) above the diagonal: %v", attr(g, "data-series"), cx, cy, above)
			}
		}
	}
	// Tables: models, and exercises by attempts.
	if rows := findAll(findAll(doc, element("table", "models"))[0], element("tr", "")); len(rows) != 4 {
		t.Errorf("%d rows in the models table, want 4", len(rows))
	}
	var attempts []int64
	for _, tr := range findAll(findAll(doc, element("table", "exercises"))[0], element("tr", ""))[1:] {
		td := findAll(tr, element("td", ""))
		attempts = append(attempts, parseCount(t, textOf(td[1])))
	}
	if len(attempts) != 40 || !slices.IsSortedFunc(attempts, func(a, b int64) int { return int(b - a) }) {
		t.Errorf("exercise table attempts %v, want 40 sorted most first", attempts)
	}
	// The gate.
	if v := findAll(doc, element("span", "verdict")); len(v) != 1 || !strings.Contains(textOf(v[0]), "forced") {
		t.Errorf("gate verdict missing or wrong")
	}
	for _, want := range []string{"60,146", "-0.5213", "0.781", "74.4%", "-0.0023", "120 attempts on 1 exercises"} {
		if !strings.Contains(textOf(doc), want) {
			t.Errorf("page text lacks %q", want)
		}
	}
}

func parsePx(t *testing.T, s string) float64 {
	t.Helper()
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		t.Fatalf("coordinate %q: %v", s, err)
	}
	return v
}

func parseCount(t *testing.T, s string) int64 {
	t.Helper()
	var v int64
	if _, err := fmt.Sscan(strings.ReplaceAll(s, ",", ""), &v); err != nil {
		t.Fatalf("count %q: %v", s, err)
	}
	return v
}

// TestEscaping checks that names with markup come out as text, in the HTML
// and in the SVG: no element they contain exists, and their text is intact.
func TestEscaping(t *testing.T) {
	pages := map[string]string{
		"eval":      render(t, func(b *bytes.Buffer) error { return WriteEvalReport(b, sampleEval(10)) }),
		"dashboard": render(t, func(b *bytes.Buffer) error { return WriteDashboard(b, sampleDashboard(10, 30)) }),
	}
	for name, page := range pages {
		doc := parseHTML(t, page)
		if n := len(findAll(doc, element("script", ""))); n != 0 {
			t.Errorf("%s: %d script elements", name, n)
		}
		for _, b := range findAll(doc, element("b", "")) {
			if strings.Contains(textOf(b), "bold") {
				t.Errorf("%s: a <b> element from a name", name)
			}
		}
		text := textOf(doc)
		for _, s := range trickyNames {
			if !strings.Contains(text, s) {
				t.Errorf("%s: the text lacks %q", name, s)
			}
		}
		// In the SVG too: the hover titles hold the names as text.
		var svgTitles strings.Builder
		for _, svg := range findAll(doc, element("svg", "chart")) {
			for _, ti := range findAll(svg, element("title", "")) {
				if ti.Namespace != "svg" {
					t.Errorf("%s: a <title> outside SVG's namespace", name)
				}
				svgTitles.WriteString(textOf(ti))
				if ti.FirstChild != nil && ti.FirstChild.NextSibling != nil {
					t.Errorf("%s: a <title> with elements in it", name)
				}
			}
		}
		for _, s := range trickyNames[:2] {
			if !strings.Contains(svgTitles.String(), s) {
				t.Errorf("%s: no SVG title names %q", name, s)
			}
		}
	}
}

// TestEvalEdgeCases renders reports with nothing or little to draw.
func TestEvalEdgeCases(t *testing.T) {
	nan := math.NaN()
	one := []ExerciseRow{{Exercise: "one", Attempts: 5, LogLikelihood: -0.5, BaselineLogLikelihood: -0.5, AUC: nan, Accuracy: 0.6, HasThetas: true}}
	for _, c := range []struct {
		name   string
		r      EvalReport
		charts []string // kinds drawn
		texts  []string // in the page's text
	}{
		{"zero value", EvalReport{}, nil, []string{"No attempts were evaluated"}},
		{"models without attempts", EvalReport{Models: []ModelMetrics{{Name: "model"}}, Gate: &Gate{Passed: true}},
			nil, []string{"No attempts were evaluated", "passed"}},
		{"no calibration, no exercises", EvalReport{Models: []ModelMetrics{{Name: "model", Attempts: 10, LogLikelihood: -0.6, AUC: nan, Accuracy: nan}}},
			nil, []string{"No attempts with calibration data", "No exercises with attempts", "No per-exercise metrics"}},
		{"one exercise, one bin, equal LLs", EvalReport{
			Models:    []ModelMetrics{{Name: "m", Attempts: 5, LogLikelihood: -0.5, AUC: nan, Calibration: Calibration{Bins: []CalibrationBin{{Lo: 0.5, Hi: 0.6, Count: 5, MeanPredicted: 0.55, Observed: 0.6}}}}},
			Exercises: one}, []string{"calibration", "exercise-ll"}, []string{"one"}},
		{"NaN everywhere", EvalReport{
			Models: []ModelMetrics{{Name: "m", Attempts: 5, LogLikelihood: nan, AUC: nan, Accuracy: nan,
				Calibration: Calibration{Bins: []CalibrationBin{{Count: 5, MeanPredicted: nan, Observed: 0.5}, {Count: 3, MeanPredicted: 0.5, Observed: nan}}}}},
			Exercises: []ExerciseRow{{Exercise: "x", Attempts: 5, LogLikelihood: nan, BaselineLogLikelihood: -0.4, AUC: nan, Accuracy: nan, HasThetas: true}}},
			nil, []string{"No attempts with calibration data", "1 exercises with an undefined log-likelihood"}},
		{"predictions outside [0, 1] and LL far below", EvalReport{
			Models: []ModelMetrics{{Name: "m", Attempts: 5, LogLikelihood: -9, Calibration: Calibration{Bins: []CalibrationBin{{Count: 5, MeanPredicted: 1.2, Observed: -0.1}}}}},
			Exercises: []ExerciseRow{{Exercise: "x", Attempts: 5, LogLikelihood: -30, BaselineLogLikelihood: -0.01, HasThetas: true},
				{Exercise: "y", Attempts: 1, LogLikelihood: -0.01, BaselineLogLikelihood: -0.02, HasThetas: true}}},
			[]string{"calibration", "exercise-ll"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			page := render(t, func(b *bytes.Buffer) error { return WriteEvalReport(b, c.r) })
			doc := parseHTML(t, page)
			charts := checkCharts(t, doc)
			var kinds []string
			for k := range charts {
				kinds = append(kinds, k)
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, c.charts) {
				t.Errorf("charts %v, want %v", kinds, c.charts)
			}
			for _, s := range c.texts {
				if !strings.Contains(textOf(doc), s) {
					t.Errorf("page text lacks %q", s)
				}
			}
			if strings.Contains(page, "NaN") {
				t.Errorf("NaN in the page")
			}
		})
	}
}

// TestDashboard checks the ranking, its numbers and the charts.
func TestDashboard(t *testing.T) {
	day := func(k int) string { return time.Date(2014, 3, 1+k, 0, 0, 0, 0, time.UTC).Format(dayLayout) }
	series := func(name string, prev, recent float64, attempts int64) ExerciseSeries {
		s := ExerciseSeries{Exercise: name}
		for k := range 14 {
			ll := prev
			if k >= 7 {
				ll = recent
			}
			s.Points = append(s.Points, DayPoint{Day: day(k), Attempts: attempts, LogLikelihood: ll, AUC: math.NaN()})
		}
		return s
	}
	d := Dashboard{Series: []ExerciseSeries{
		series("steady", -0.5, -0.5, 100),
		series("dropped a lot", -0.4, -0.6, 100),
		series("improved", -0.6, -0.5, 100),
		series("tiny", -0.3, -0.9, 1), // dropped most, too few attempts to rank
		series("dropped a little", -0.5, -0.52, 100),
		{Exercise: "no data", Points: []DayPoint{{Day: day(3), Attempts: 0, LogLikelihood: math.NaN()}}},
	}}
	// Weighting: a day with 3× the attempts counts 3×.
	d.Series[0].Points[0] = DayPoint{Day: day(0), Attempts: 300, LogLikelihood: -0.3}
	page := render(t, func(b *bytes.Buffer) error { return WriteDashboard(b, d) })
	doc := parseHTML(t, page)
	charts := checkCharts(t, doc)
	var got []string
	for _, tr := range findAll(findAll(doc, element("table", "ranking"))[0], element("tr", ""))[1:] {
		var cells []string
		for _, td := range findAll(tr, element("td", "")) {
			cells = append(cells, textOf(td))
		}
		got = append(got, strings.Join(cells, "|"))
	}
	want := []string{
		"1|dropped a lot|-0.4000|-0.6000|+0.2000|700|700",
		"2|steady|-0.4333|-0.5000|+0.0667|900|700", // previous: (300·-0.3 + 600·-0.5)/900
		"3|dropped a little|-0.5000|-0.5200|+0.0200|700|700",
		"4|improved|-0.6000|-0.5000|-0.1000|700|700",
		"|tiny|-0.3000|-0.9000|+0.6000|7|7",
		"|no data|—|—|—|0|0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("ranking:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(charts["exercise-day"]); n != 5 {
		t.Errorf("%d charts, want 5 (not the exercise without data)", n)
	}
	for _, svg := range charts["exercise-day"] {
		g := findAll(svg, element("g", "series"))
		if len(g) != 2 || attr(g[0], "data-series") != "attempts" || attr(g[1], "data-series") != "log-likelihood" {
			t.Fatalf("chart series wrong")
		}
		if _, _, bars := drawn(g[0]); bars != 14 {
			t.Errorf("%d bars, want 14", bars)
		}
		if p, pts, _ := drawn(g[1]); p != 1 || pts != 14 {
			t.Errorf("%d paths and %d points, want 1 and 14", p, pts)
		}
	}
	for _, s := range []string{"2014-03-01 to 2014-03-14", "Recent: 2014-03-08 to 2014-03-14"} {
		if !strings.Contains(textOf(doc), s) {
			t.Errorf("page lacks %q", s)
		}
	}
}

// TestDashboardEdgeCases renders dashboards with nothing or little to draw.
func TestDashboardEdgeCases(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		name   string
		d      Dashboard
		charts int
		texts  []string
		err    string
	}{
		{"zero value", Dashboard{}, 0, []string{"No attempts in this window"}, ""},
		{"series without attempts", Dashboard{Series: []ExerciseSeries{{Exercise: "a"}, {Exercise: "b", Points: []DayPoint{{Day: "2014-01-01", LogLikelihood: -0.5}}}}},
			0, []string{"No attempts in this window"}, ""},
		{"one point", Dashboard{Series: []ExerciseSeries{{Exercise: "a", Points: []DayPoint{{Day: "2014-01-01", Attempts: 3, LogLikelihood: -0.5, AUC: nan}}}}},
			1, []string{"2014-01-01 to 2014-01-01"}, ""},
		{"constant", Dashboard{Series: []ExerciseSeries{{Exercise: "a", Points: []DayPoint{
			{Day: "2014-01-01", Attempts: 3, LogLikelihood: -0.5}, {Day: "2014-01-02", Attempts: 3, LogLikelihood: -0.5}, {Day: "2014-01-03", Attempts: 3, LogLikelihood: -0.5}}}}},
			1, nil, ""},
		{"NaN and zero LL, unsorted, duplicate day", Dashboard{Series: []ExerciseSeries{{Exercise: "a", Points: []DayPoint{
			{Day: "2014-01-05", Attempts: 3, LogLikelihood: 0}, {Day: "2014-01-01", Attempts: 3, LogLikelihood: nan},
			{Day: "2014-01-02", Attempts: 3, LogLikelihood: -0.2}, {Day: "2014-01-02", Attempts: 1, LogLikelihood: -0.6}}}}},
			1, []string{"-0.3000"}, ""}, // 2014-01-02 merged: (3·-0.2 + -0.6)/4; the previous period is that day only
		{"bad day", Dashboard{Series: []ExerciseSeries{{Exercise: "a", Points: []DayPoint{{Day: "01/02/2014", Attempts: 3, LogLikelihood: -0.5}}}}},
			0, nil, `day "01/02/2014" is not YYYY-MM-DD`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			err := WriteDashboard(&b, c.d)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			doc := parseHTML(t, b.String())
			charts := checkCharts(t, doc)
			if n := len(charts["exercise-day"]); n != c.charts {
				t.Errorf("%d charts, want %d", n, c.charts)
			}
			for _, s := range c.texts {
				if !strings.Contains(textOf(doc), s) {
					t.Errorf("page text lacks %q", s)
				}
			}
			if strings.Contains(b.String(), "NaN") {
				t.Errorf("NaN in the page")
			}
		})
	}
}

// TestPageSize measures the pages for Khan's scale: 2,000 exercises, 90
// days on the dashboard; 2,000 exercises in the evaluation report.
func TestPageSize(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const maxBytes = 3 << 20
	d := sampleDashboard(2000, 90)
	start := time.Now()
	page := render(t, func(b *bytes.Buffer) error { return WriteDashboard(b, d) })
	t.Logf("dashboard, 2,000 exercises × 90 days: %d bytes in %v", len(page), time.Since(start).Round(time.Millisecond))
	if len(page) > maxBytes {
		t.Errorf("dashboard is %d bytes, over %d", len(page), maxBytes)
	}
	doc := parseHTML(t, page)
	if n := len(chartsByKind(doc)["exercise-day"]); n != DashboardCharts {
		t.Errorf("%d charts, want %d", n, DashboardCharts)
	}
	if !strings.Contains(textOf(doc), "1950 more with attempts are not shown") {
		t.Errorf("the page does not say how many exercises are not charted")
	}
	// The charted exercises are the ranking's first, the biggest drops.
	rows := findAll(findAll(doc, element("table", "ranking"))[0], element("tr", ""))[1:]
	if len(rows) != 2000 || len(findAll(rows[0], element("a", ""))) != 1 || len(findAll(rows[DashboardCharts], element("a", ""))) != 0 {
		t.Errorf("ranking: %d rows, or the links to charts are not on the first %d", len(rows), DashboardCharts)
	}

	r := sampleEval(2000)
	start = time.Now()
	page = render(t, func(b *bytes.Buffer) error { return WriteEvalReport(b, r) })
	t.Logf("evaluation report, 2,000 exercises: %d bytes in %v", len(page), time.Since(start).Round(time.Millisecond))
	if len(page) > maxBytes {
		t.Errorf("evaluation report is %d bytes, over %d", len(page), maxBytes)
	}
}

// TestWriterError checks that a failing writer's error comes back.
func TestWriterError(t *testing.T) {
	if err := WriteEvalReport(failWriter{}, sampleEval(3)); err == nil {
		t.Error("WriteEvalReport: no error from a failing writer")
	}
	if err := WriteDashboard(failWriter{}, sampleDashboard(3, 10)); err == nil {
		t.Error("WriteDashboard: no error from a failing writer")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

var errFail = errors.New("write failed")

// measureScript, added to a copy of a page for the browser, records where
// each chart, series and legend entry was laid out (data-rect:
// left,top,width,height in CSS pixels, which are the screenshot's) and the
// size of each series' drawing (data-bbox: width,height from getBBox). The
// pages themselves have no script.
const measureScript = `<script>
const rect = (e) => { const r = e.getBoundingClientRect(); e.setAttribute("data-rect", [r.left, r.top, r.width, r.height].map(Math.round).join(",")); };
for (const svg of document.querySelectorAll("svg.chart")) {
  rect(svg);
  for (const g of svg.querySelectorAll("g.series, g.legend")) rect(g);
  for (const g of svg.querySelectorAll("g.series")) {
    const b = g.getBBox();
    g.setAttribute("data-bbox", [b.width, b.height].map(Math.round).join(","));
  }
}
for (const a of document.querySelectorAll("a.csv")) rect(a);
document.body.setAttribute("data-measured", "yes");
</script>`

// TestInChromium renders both pages in headless Chromium. From the DOM it
// dumps after layout it checks that every chart is laid out and every
// series has a drawing of non-zero size; in a screenshot of the same page
// it checks that each chart's area is not blank and shows each series'
// color.
func TestInChromium(t *testing.T) {
	bin := chromium.Find(t)
	const width, height = 1280, 2000
	pages := []struct {
		name   string
		write  func(*bytes.Buffer) error
		charts map[string]int
		tables int
	}{
		{"eval", func(b *bytes.Buffer) error { return WriteEvalReport(b, sampleEval(40)) }, map[string]int{"calibration": 1, "exercise-ll": 1}, 5},
		{"dashboard", func(b *bytes.Buffer) error { return WriteDashboard(b, sampleDashboard(6, 30)) }, map[string]int{"exercise-day": 6}, 1},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			page := render(t, p.write)
			page = strings.Replace(page, "</body>", measureScript+"</body>", 1)
			file := filepath.Join(t.TempDir(), p.name+".html")
			if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
				t.Fatal(err)
			}
			dom, err := chromium.DumpDOM(t.Context(), bin, file, width, height)
			if err != nil {
				t.Fatal(err)
			}
			doc := parseHTML(t, dom)
			if b := findAll(doc, element("body", "")); len(b) != 1 || attr(b[0], "data-measured") != "yes" {
				t.Fatalf("the measuring script did not run; DOM:\n%.2000s", dom)
			}
			charts := checkCharts(t, doc)
			checkDownloads(t, doc, p.tables)
			for kind, n := range p.charts {
				if len(charts[kind]) != n {
					t.Errorf("%d %s charts in the DOM, want %d", len(charts[kind]), kind, n)
				}
			}
			shot, err := chromium.Screenshot(t.Context(), bin, file, width, height)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(shot))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
				t.Fatalf("screenshot %v, want %d×%d", b, width, height)
			}
			for kind, svgs := range charts {
				for _, svg := range svgs {
					checkChartPixels(t, img, kind, svg)
				}
			}
		})
	}
}

// checkDownloads checks, in the DOM Chromium laid out, that every table
// and every chart offers its data as a CSV download that is shown on the
// page and parses as a CSV of a header and rows.
func checkDownloads(t *testing.T, doc *html.Node, tables int) {
	t.Helper()
	links := map[string][]*html.Node{}
	for _, a := range findAll(doc, element("a", "csv")) {
		links[attr(a, "data-for")] = append(links[attr(a, "data-for")], a)
	}
	ts := findAll(doc, element("table", ""))
	if len(ts) != tables {
		t.Errorf("%d tables, want %d", len(ts), tables)
	}
	for _, tb := range ts {
		if len(links[attr(tb, "class")]) == 0 {
			t.Errorf("table %q has no CSV download", attr(tb, "class"))
		}
	}
	for kind, svgs := range groupCharts(doc) {
		if len(links[kind]) != len(svgs) {
			t.Errorf("%d %s charts, %d CSV downloads for them", len(svgs), kind, len(links[kind]))
		}
	}
	for what, as := range links {
		for _, a := range as {
			if r, err := rectOf(a); err != nil || r.Dx() == 0 || r.Dy() == 0 {
				t.Errorf("the CSV download of %s is not shown: %v %v", what, r, err)
			}
			name, href := attr(a, "download"), attr(a, "href")
			const prefix = "data:text/csv;charset=utf-8,"
			if !strings.HasSuffix(name, ".csv") || !strings.HasPrefix(href, prefix) {
				t.Errorf("download of %s: name %q, href %.60q", what, name, href)
				continue
			}
			text, err := url.PathUnescape(strings.TrimPrefix(href, prefix))
			if err != nil {
				t.Errorf("download of %s: %v", what, err)
				continue
			}
			recs, err := csv.NewReader(strings.NewReader(text)).ReadAll()
			if err != nil || len(recs) < 2 {
				t.Errorf("download of %s: %d records, %v", what, len(recs), err)
			}
			if what == "exercises" && !slices.ContainsFunc(recs, func(r []string) bool { return r[0] == trickyNames[0] }) {
				t.Errorf("the exercises CSV lost the exercise %q", trickyNames[0])
			}
		}
	}
}

// groupCharts returns the page's charts by kind.
func groupCharts(doc *html.Node) map[string][]*html.Node {
	out := map[string][]*html.Node{}
	for _, svg := range findAll(doc, element("svg", "chart")) {
		out[attr(svg, "data-chart")] = append(out[attr(svg, "data-chart")], svg)
	}
	return out
}

// checkChartPixels checks one chart in the screenshot: laid out where the
// DOM says, inside the image, not blank, each series drawn in its color.
func checkChartPixels(t *testing.T, img image.Image, kind string, svg *html.Node) {
	t.Helper()
	name := kind + " " + attr(svg, "aria-label")
	area, err := rectOf(svg)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	w, h := area.Dx(), area.Dy()
	wantW, _ := strconv.Atoi(attr(svg, "width"))
	wantH, _ := strconv.Atoi(attr(svg, "height"))
	if w != wantW || h != wantH {
		t.Errorf("%s: laid out %d×%d, want %d×%d", name, w, h, wantW, wantH)
	}
	if !area.In(img.Bounds()) {
		t.Errorf("%s at %v: outside the %v screenshot", name, area, img.Bounds())
		return
	}
	nonWhite := 0
	for py := area.Min.Y; py < area.Max.Y; py++ {
		for px := area.Min.X; px < area.Max.X; px++ {
			r, g, b, _ := img.At(px, py).RGBA()
			if r>>8 < 240 || g>>8 < 240 || b>>8 < 240 {
				nonWhite++
			}
		}
	}
	if frac := float64(nonWhite) / float64(w*h); frac < 0.02 {
		t.Errorf("%s: only %.1f%% of its pixels are not white", name, 100*frac)
	}
	for _, g := range findAll(svg, element("g", "series")) {
		series := attr(g, "data-series")
		var bw, bh int
		if _, err := fmt.Sscanf(attr(g, "data-bbox"), "%d,%d", &bw, &bh); err != nil || bw+bh == 0 {
			t.Errorf("%s: series %q has an empty drawing (bbox %q)", name, series, attr(g, "data-bbox"))
		}
		c := seriesColor(g)
		if c == nil {
			t.Errorf("%s: series %q has no color", name, series)
			continue
		}
		// Count in the series' own box, less the legend's swatches, which
		// have the same colors.
		box, err := rectOf(g)
		if err != nil {
			t.Errorf("%s: series %q: %v", name, series, err)
			continue
		}
		var legend []image.Rectangle
		for _, l := range findAll(svg, element("g", "legend")) {
			if r, err := rectOf(l); err == nil {
				legend = append(legend, r)
			}
		}
		if n := countColor(img, box.Inset(-2), legend, *c); n < 30 {
			t.Errorf("%s: series %q: %d pixels of its color %v, want 30 or more", name, series, n, *c)
		}
	}
}

// seriesColor returns the fill of a series' first circle or rect, or the
// stroke of its first path.
func seriesColor(g *html.Node) *color.RGBA {
	for _, n := range findAll(g, func(n *html.Node) bool { return n.Type == html.ElementNode }) {
		s := attr(n, "fill")
		if s == "" || s == "none" {
			s = attr(n, "stroke")
		}
		var r, gr, b uint8
		if _, err := fmt.Sscanf(s, "#%02x%02x%02x", &r, &gr, &b); err == nil {
			return &color.RGBA{r, gr, b, 255}
		}
	}
	return nil
}

// rectOf returns the data-rect the measuring script set on n.
func rectOf(n *html.Node) (image.Rectangle, error) {
	var x, y, w, h int
	if _, err := fmt.Sscanf(attr(n, "data-rect"), "%d,%d,%d,%d", &x, &y, &w, &h); err != nil {
		return image.Rectangle{}, fmt.Errorf("data-rect %q: %v", attr(n, "data-rect"), err)
	}
	return image.Rect(x, y, x+w, y+h), nil
}

// countColor counts the pixels in area, outside the rectangles in skip,
// close to c drawn opaque or at the charts' fill opacity of 0.75 over
// white.
func countColor(img image.Image, area image.Rectangle, skip []image.Rectangle, c color.RGBA) int {
	blend := func(v uint8) int { return int(0.75*float64(v) + 0.25*255 + 0.5) }
	near := func(r, g, b, cr, cg, cb int) bool {
		const tol = 20
		return abs(r-cr) <= tol && abs(g-cg) <= tol && abs(b-cb) <= tol
	}
	n := 0
	for y := area.Min.Y; y < area.Max.Y; y++ {
	pixels:
		for x := area.Min.X; x < area.Max.X; x++ {
			for _, s := range skip {
				if image.Pt(x, y).In(s) {
					continue pixels
				}
			}
			r32, g32, b32, _ := img.At(x, y).RGBA()
			r, g, b := int(r32>>8), int(g32>>8), int(b32>>8)
			if near(r, g, b, int(c.R), int(c.G), int(c.B)) || near(r, g, b, blend(c.R), blend(c.G), blend(c.B)) {
				n++
			}
		}
	}
	return n
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
