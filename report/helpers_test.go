package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// Tricky names: HTML and SVG must show them as text, never as markup.
var trickyNames = []string{
	`<script>alert("x")</script>`,
	`fractions & "decimals" <1/2>`,
	`it's </title><b>bold</b>`,
}

// sampleEval returns an evaluation report with three models, nExercises
// exercises (some of them with tricky names, one without thetas, one with
// an undefined AUC) and a gate.
func sampleEval(nExercises int) EvalReport {
	rng := rand.New(rand.NewPCG(1, 2))
	calib := func(bias float64) Calibration {
		var c Calibration
		for i := range 10 {
			lo, hi := float64(i)/10, float64(i+1)/10
			mean := (lo + hi) / 2
			c.Bins = append(c.Bins, CalibrationBin{
				Lo: lo, Hi: hi, Count: int64(50 + 400*i*i),
				MeanPredicted: mean, Observed: math.Min(1, math.Max(0, mean+bias*(mean-0.5)+0.02*rng.NormFloat64())),
			})
		}
		c.Bins[0].Count = 0 // an empty bin
		return c
	}
	r := EvalReport{
		Title: "Evaluation of " + trickyNames[0], Version: "20261126T121927Z", Created: "2026-11-26 12:19 UTC",
		Settings: map[string]string{"l2": "1.0", "input": "embed://sample/problemlogs.csv.gz", "note": trickyNames[1]},
		Models: []ModelMetrics{
			{Name: "model", Attempts: 60146, LogLikelihood: -0.5213, AUC: 0.781, Accuracy: 0.744, Calibration: calib(0.05)},
			{Name: "exercise mean " + trickyNames[2], Attempts: 60146, LogLikelihood: -0.5832, AUC: 0.652, Accuracy: 0.701, Calibration: calib(-0.3)},
			{Name: "global mean", Attempts: 60146, LogLikelihood: -0.6103, AUC: math.NaN(), Accuracy: 0.69},
		},
		NoThetasAttempts: 120, NoThetasExercises: 1,
		Segments: []SegmentRow{
			{Segment: "first", Attempts: 8000, LogLikelihood: []float64{-0.56, -0.64, -0.66}, AUC: []float64{0.76, 0.65, math.NaN()}},
			{Segment: "2-5", Attempts: 20000, LogLikelihood: []float64{-0.52, -0.60, -0.61}, AUC: []float64{0.78, 0.64, math.NaN()}},
		},
		Gate: &Gate{Passed: false, Forced: true, Current: "20261125T000000Z", Attempts: 60146,
			New: -0.5213, CurrentLL: -0.5190, Delta: -0.0023, MaxRegression: 0.002, Reason: "log-likelihood dropped by more than " + trickyNames[1]},
	}
	for i := range nExercises {
		name := fmt.Sprintf("exercise_%04d", i)
		if i < len(trickyNames) {
			name = trickyNames[i]
		}
		base := -0.45 - 0.25*rng.Float64()
		row := ExerciseRow{
			Exercise: name, Attempts: int64(20 + rng.IntN(5000)),
			BaselineLogLikelihood: base, LogLikelihood: base + 0.04*rng.NormFloat64() + 0.02,
			AUC: 0.6 + 0.3*rng.Float64(), Accuracy: 0.6 + 0.3*rng.Float64(), HasThetas: true,
		}
		switch i {
		case 3:
			row.HasThetas, row.Attempts = false, 120
		case 4:
			row.AUC = math.NaN()
		}
		r.Exercises = append(r.Exercises, row)
	}
	return r
}

// sampleDashboard returns nExercises series over nDays days ending
// 2014-03-31. Every fifth exercise gets worse in the last week; exercises
// have gaps, and the first ones tricky names.
func sampleDashboard(nExercises, nDays int) Dashboard {
	rng := rand.New(rand.NewPCG(3, 4))
	last := time.Date(2014, 3, 31, 0, 0, 0, 0, time.UTC)
	d := Dashboard{Title: "Monitoring " + trickyNames[1], Model: "20261126T121927Z", Window: fmt.Sprintf("last %d days", nDays), Created: "2026-11-26"}
	for i := range nExercises {
		name := fmt.Sprintf("exercise_%04d", i)
		if i < len(trickyNames) {
			name = trickyNames[i]
		}
		s := ExerciseSeries{Exercise: name}
		base := -0.45 - 0.2*rng.Float64()
		volume := 20 + rng.IntN(2000)
		for k := range nDays {
			day := last.AddDate(0, 0, k-nDays+1)
			if rng.IntN(15) == 0 {
				continue // a gap
			}
			ll := base + 0.02*rng.NormFloat64()
			if i%5 == 0 && k >= nDays-RecentDays {
				ll -= 0.05 + 0.01*float64(i%7)
			}
			s.Points = append(s.Points, DayPoint{Day: day.Format(dayLayout), Attempts: int64(volume/2 + rng.IntN(volume)), LogLikelihood: ll, AUC: 0.7 + 0.05*rng.NormFloat64()})
		}
		d.Series = append(d.Series, s)
	}
	return d
}

// parseHTML parses a page.
func parseHTML(t testing.TB, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

// findAll returns the nodes under n (n included) for which ok is true, in
// document order.
func findAll(n *html.Node, ok func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if ok(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// element matches elements named tag whose class list has class (any
// class if "").
func element(tag, class string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		if n.Type != html.ElementNode || n.Data != tag {
			return false
		}
		return class == "" || hasClass(n, class)
	}
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// textOf returns the text under n.
func textOf(n *html.Node) string {
	var b strings.Builder
	for _, t := range findAll(n, func(n *html.Node) bool { return n.Type == html.TextNode }) {
		b.WriteString(t.Data)
	}
	return b.String()
}

// chartsByKind returns the page's charts (svg.chart) by data-chart.
func chartsByKind(doc *html.Node) map[string][]*html.Node {
	out := map[string][]*html.Node{}
	for _, svg := range findAll(doc, element("svg", "chart")) {
		out[attr(svg, "data-chart")] = append(out[attr(svg, "data-chart")], svg)
	}
	return out
}

// drawn says whether a series element draws something: a path with at
// least one segment, a circle with a radius, a rect with an area. It
// returns what it found.
func drawn(g *html.Node) (paths, circles, rects int) {
	for _, p := range findAll(g, element("path", "")) {
		if strings.Contains(attr(p, "d"), "L") {
			paths++
		}
	}
	for _, c := range findAll(g, element("circle", "")) {
		if r, err := strconv.ParseFloat(attr(c, "r"), 64); err == nil && r > 0 {
			circles++
		}
	}
	for _, r := range findAll(g, element("rect", "")) {
		w, err1 := strconv.ParseFloat(attr(r, "width"), 64)
		h, err2 := strconv.ParseFloat(attr(r, "height"), 64)
		if err1 == nil && err2 == nil && w > 0 && h >= 0 {
			rects++
		}
	}
	return
}

// checkCharts checks every chart of a page: a known kind, at least one
// series, every series drawing something, and no attribute with NaN, Inf
// or html/template's ZgotmplZ. It returns the charts by kind.
func checkCharts(t *testing.T, doc *html.Node) map[string][]*html.Node {
	t.Helper()
	for _, n := range findAll(doc, func(n *html.Node) bool { return n.Type == html.ElementNode }) {
		for _, a := range n.Attr {
			if strings.Contains(a.Val, "NaN") || strings.Contains(a.Val, "Inf") || strings.Contains(a.Val, "ZgotmplZ") {
				t.Errorf("<%s %s=%q>", n.Data, a.Key, a.Val)
			}
		}
	}
	charts := chartsByKind(doc)
	for kind, svgs := range charts {
		switch kind {
		case "calibration", "exercise-ll", "exercise-day":
		default:
			t.Errorf("a chart of unknown kind %q", kind)
		}
		for _, svg := range svgs {
			series := findAll(svg, element("g", "series"))
			if len(series) == 0 {
				t.Errorf("%s chart %q: no series", kind, attr(svg, "aria-label"))
			}
			for _, g := range series {
				if p, c, r := drawn(g); p+c+r == 0 {
					t.Errorf("%s chart %q: series %q draws nothing", kind, attr(svg, "aria-label"), attr(g, "data-series"))
				}
			}
		}
	}
	return charts
}
