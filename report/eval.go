package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// WriteEvalReport writes the evaluation report of a training run as one
// self-contained HTML page:
//
//   - the gate's verdict, if r.Gate is set;
//   - a summary table, one row per model: attempts, mean log-likelihood,
//     AUC, accuracy and the expected calibration error (the attempt-weighted
//     mean of |observed - mean predicted| over the calibration bins);
//   - a reliability diagram (data-chart="calibration"): observed fraction
//     correct against mean predicted probability per bin, one series per
//     model, points sized by their bin's attempts and, for the model, labelled
//     with them, and the diagonal of perfect calibration;
//   - a scatter of the exercises (data-chart="exercise-ll"): the baseline's
//     mean log-likelihood across, the model's up, point area proportional
//     to attempts, with the line y = x: exercises above it are those where
//     the model beats the baseline. Hovering a point names its exercise.
//     Exercises without thetas are left out of it;
//   - the models' log-likelihood and AUC per segment of the attempts (the
//     student's first attempt at the exercise, the 2nd to 5th, later);
//   - the per-exercise table, by attempts, most first;
//   - the settings of the run.
//
// A report without attempts says so instead of drawing empty charts. The
// error is the writer's.
func WriteEvalReport(w io.Writer, r EvalReport) error {
	return evalPage.Execute(w, newEvalView(r))
}

var evalPage = parse("eval", `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
{{template "style"}}</head>
<body>
<h1>{{.Title}}</h1>
<p class="meta">{{with .Version}}Model version <b>{{.}}</b>{{end}}{{with .Created}} · created {{.}}{{end}}</p>
{{with .Gate}}<h2>Gate</h2>
<p><span class="verdict {{.Class}}">{{.Verdict}}</span>{{with .Reason}} {{.}}{{end}}</p>
<table class="gate">
<tr><th class="name">compared with</th><td class="name">{{.Current}}</td></tr>
<tr><th class="name">attempts</th><td>{{count .Attempts}}</td></tr>
<tr><th class="name">new model LL</th><td>{{ll .New}}</td></tr>
<tr><th class="name">current model LL</th><td>{{ll .CurrentLL}}</td></tr>
<tr><th class="name">change</th><td class="{{if lt .Delta 0.0}}neg{{else}}pos{{end}}">{{signed .Delta}}</td></tr>
<tr><th class="name">largest drop allowed</th><td>{{ll .MaxRegression}}</td></tr>
</table>
{{template "csv" $.GateCSV}}
{{end}}
{{if .Empty}}<h2>Summary</h2>
<p class="empty">No attempts were evaluated: there is nothing to chart.</p>
{{else}}<h2>Summary</h2>
<table class="models">
<tr><th class="name">model</th><th>attempts</th><th>log-likelihood</th><th>AUC</th><th>accuracy</th><th>calibration error</th></tr>
{{range .Models}}<tr><td class="name"><span style="color:{{.Color}}">■</span> {{.Name}}</td><td>{{count .Attempts}}</td><td>{{ll .LogLikelihood}}</td><td>{{auc .AUC}}</td><td>{{pct .Accuracy}}</td><td>{{pct .ECE}}</td></tr>
{{end}}</table>
{{template "csv" .ModelsCSV}}
{{if .NoThetasAttempts}}<p class="note">{{count .NoThetasAttempts}} attempts on {{.NoThetasExercises}} exercises the model has no thetas for.</p>{{end}}
<div class="charts">
<div class="card"><h3>Reliability</h3>
{{with .Calibration}}{{template "chart" .}}{{else}}<p class="empty">No attempts with calibration data.</p>{{end}}
</div>
<div class="card"><h3>Log-likelihood per exercise: model vs {{.BaselineName}}</h3>
{{with .Scatter}}{{template "chart" .}}{{else}}<p class="empty">No exercises with attempts and both log-likelihoods.</p>{{end}}
{{with .ScatterNote}}<p class="note">{{.}}</p>{{end}}
</div>
</div>
{{if .Segments}}<h2>By the student's attempt at the exercise</h2>
<p class="note">First attempts are what the KnowledgeState is for: the ExerciseState knows nothing of an exercise not started.</p>
<table class="segments">
<tr><th class="name" rowspan="2">model</th>{{range .Segments}}<th colspan="2">{{.Segment}} ({{count .Attempts}} attempts)</th>{{end}}</tr>
<tr>{{range .Segments}}<th>log-likelihood</th><th>AUC</th>{{end}}</tr>
{{range $i, $m := .Models}}<tr><td class="name"><span style="color:{{$m.Color}}">■</span> {{$m.Name}}</td>{{range $.Segments}}<td>{{ll (index .LogLikelihood $i)}}</td><td>{{auc (index .AUC $i)}}</td>{{end}}</tr>
{{end}}</table>
{{template "csv" .SegmentsCSV}}{{end}}
<h2>Exercises</h2>
{{if .Exercises}}<table class="exercises">
<tr><th class="name">exercise</th><th>attempts</th><th>log-likelihood</th><th>{{.BaselineName}}</th><th>change</th><th>AUC</th><th>accuracy</th><th>thetas</th></tr>
{{range .Exercises}}<tr><td class="name">{{.Exercise}}</td><td>{{count .Attempts}}</td><td>{{ll .LogLikelihood}}</td><td>{{ll .BaselineLogLikelihood}}</td><td class="{{.Class}}">{{signed .Delta}}</td><td>{{auc .AUC}}</td><td>{{pct .Accuracy}}</td><td>{{if .HasThetas}}yes{{else}}no{{end}}</td></tr>
{{end}}</table>
{{template "csv" .ExercisesCSV}}{{else}}<p class="empty">No per-exercise metrics.</p>{{end}}
{{end}}
{{with .Settings}}<h2>Settings</h2>
<table class="settings">
{{range .}}<tr><th class="name">{{.Key}}</th><td class="name">{{.Value}}</td></tr>
{{end}}</table>
{{template "csv" $.SettingsCSV}}{{end}}
</body></html>
`)

type evalView struct {
	Title, Version, Created string
	Gate                    *gateView
	Empty                   bool
	Models                  []modelRow
	NoThetasAttempts        int64
	NoThetasExercises       int
	BaselineName            string
	Calibration, Scatter    *svgChart
	ScatterNote             string
	Exercises               []exerciseRow
	Segments                []SegmentRow
	Settings                []keyValue
	// The data of each table, as CSV downloads.
	GateCSV, ModelsCSV, SegmentsCSV, ExercisesCSV, SettingsCSV *csvLink
}

type gateView struct {
	Gate
	Verdict, Class string
}

type modelRow struct {
	ModelMetrics
	Color string
	ECE   float64
}

type exerciseRow struct {
	ExerciseRow
	Delta float64
	Class string
}

type keyValue struct{ Key, Value string }

func newEvalView(r EvalReport) evalView {
	v := evalView{
		Title: cmp.Or(r.Title, "Knowledge model evaluation"), Version: r.Version, Created: r.Created,
		NoThetasAttempts: r.NoThetasAttempts, NoThetasExercises: r.NoThetasExercises,
		BaselineName: "baseline", Segments: r.Segments,
	}
	if len(r.Models) > 1 && r.Models[1].Name != "" {
		v.BaselineName = r.Models[1].Name
	}
	if g := r.Gate; g != nil {
		gv := &gateView{Gate: *g}
		switch {
		case g.Passed:
			gv.Verdict, gv.Class = "passed", "passed"
		case g.Forced:
			gv.Verdict, gv.Class = "failed, published anyway (forced)", "forced"
		default:
			gv.Verdict, gv.Class = "failed: not published", "failed"
		}
		v.Gate = gv
	}
	for k, val := range r.Settings {
		v.Settings = append(v.Settings, keyValue{k, val})
	}
	slices.SortFunc(v.Settings, func(a, b keyValue) int { return cmp.Compare(a.Key, b.Key) })

	var attempts int64
	for i, m := range r.Models {
		attempts += max(m.Attempts, 0)
		v.Models = append(v.Models, modelRow{ModelMetrics: m, Color: palette[i%len(palette)], ECE: ece(m.Calibration)})
	}
	for _, e := range r.Exercises {
		attempts += max(e.Attempts, 0)
		row := exerciseRow{ExerciseRow: e, Delta: e.LogLikelihood - e.BaselineLogLikelihood}
		if finite(row.Delta) && row.Delta < 0 {
			row.Class = "neg"
		}
		v.Exercises = append(v.Exercises, row)
	}
	slices.SortStableFunc(v.Exercises, func(a, b exerciseRow) int {
		return cmp.Or(cmp.Compare(b.Attempts, a.Attempts), cmp.Compare(a.Exercise, b.Exercise))
	})
	v.Empty = attempts == 0
	v.addCSV(r)
	if v.Empty {
		return v
	}
	v.Calibration = calibrationChart(r.Models)
	if v.Calibration != nil {
		v.Calibration.CSV = calibrationCSV(r.Models)
	}
	v.Scatter, v.ScatterNote = exerciseScatter(r.Exercises, v.BaselineName)
	return v
}

// addCSV makes the tables' CSV downloads.
func (v *evalView) addCSV(r EvalReport) {
	if g := v.Gate; g != nil {
		v.GateCSV = newCSVLink("gate", "gate.csv", []string{"passed", "forced", "compared_with", "attempts", "new_log_likelihood", "current_log_likelihood", "change", "max_regression", "reason"},
			[][]string{{strconv.FormatBool(g.Passed), strconv.FormatBool(g.Forced), g.Current, csvInt(g.Attempts), csvNum(g.New), csvNum(g.CurrentLL), csvNum(g.Delta), csvNum(g.MaxRegression), g.Reason}})
	}
	var rows [][]string
	for _, m := range v.Models {
		rows = append(rows, []string{m.Name, csvInt(m.Attempts), csvNum(m.LogLikelihood), csvNum(m.AUC), csvNum(m.Accuracy), csvNum(m.ECE)})
	}
	v.ModelsCSV = newCSVLink("models", "models.csv", []string{"model", "attempts", "log_likelihood", "auc", "accuracy", "calibration_error"}, rows)
	if len(r.Segments) > 0 {
		header := []string{"segment", "attempts"}
		for _, m := range r.Models {
			header = append(header, m.Name+" log_likelihood", m.Name+" auc")
		}
		rows = nil
		for _, sg := range r.Segments {
			row := []string{sg.Segment, csvInt(sg.Attempts)}
			for i := range sg.LogLikelihood {
				row = append(row, csvNum(sg.LogLikelihood[i]), csvNum(sg.AUC[i]))
			}
			rows = append(rows, row)
		}
		v.SegmentsCSV = newCSVLink("segments", "segments.csv", header, rows)
	}
	if len(v.Exercises) > 0 {
		v.ExercisesCSV = exercisesCSV(v.Exercises)
	}
	rows = nil
	for _, kv := range v.Settings {
		rows = append(rows, []string{kv.Key, kv.Value})
	}
	v.SettingsCSV = newCSVLink("settings", "settings.csv", []string{"setting", "value"}, rows)
}

// exercisesCSV is the per-exercise table's data.
func exercisesCSV(ex []exerciseRow) *csvLink {
	var rows [][]string
	for _, e := range ex {
		rows = append(rows, []string{e.Exercise, csvInt(e.Attempts), csvNum(e.LogLikelihood), csvNum(e.BaselineLogLikelihood),
			csvNum(e.Delta), csvNum(e.AUC), csvNum(e.Accuracy), strconv.FormatBool(e.HasThetas)})
	}
	return newCSVLink("exercises", "exercises.csv", []string{"exercise", "attempts", "log_likelihood", "baseline_log_likelihood", "change", "auc", "accuracy", "has_thetas"}, rows)
}

// calibrationCSV is the reliability diagram's data: every model's bins.
func calibrationCSV(models []ModelMetrics) *csvLink {
	var rows [][]string
	for _, m := range models {
		for _, b := range m.Calibration.Bins {
			rows = append(rows, []string{m.Name, csvNum(b.Lo), csvNum(b.Hi), csvInt(b.Count), csvNum(b.MeanPredicted), csvNum(b.Observed)})
		}
	}
	return newCSVLink("calibration", "calibration.csv", []string{"model", "lower", "upper", "attempts", "mean_predicted", "observed"}, rows)
}

// ece is the expected calibration error: the attempt-weighted mean of
// |observed - mean predicted| over the bins, NaN without attempts.
func ece(c Calibration) float64 {
	var n, sum float64
	for _, b := range c.Bins {
		if b.Count > 0 && finite(b.MeanPredicted) && finite(b.Observed) {
			n += float64(b.Count)
			sum += float64(b.Count) * math.Abs(b.Observed-b.MeanPredicted)
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / n
}

// calibrationChart draws the reliability diagram, nil if no model has a
// bin with attempts.
func calibrationChart(models []ModelMetrics) *svgChart {
	var names, colors []string
	for i, m := range models {
		if slices.ContainsFunc(m.Calibration.Bins, drawnBin) {
			names, colors = append(names, m.Name), append(colors, palette[i%len(palette)])
		}
	}
	if len(names) == 0 {
		return nil
	}
	p := plot{W: 480, H: 482, Left: 52, Right: 16, Top: 30, Bottom: 40} // a square plot
	p.fitLegend(names)
	x := niceAxis(0, 1, 5, p.x0(), p.x1())
	y := niceAxis(0, 1, 5, p.y0(), p.y1())
	c := &svgChart{Kind: "calibration", Label: "Reliability diagram: observed against predicted probability correct", W: p.W, H: p.H}
	c.Back = p.frame(x, y, "mean predicted probability correct", "fraction correct")
	diag := line("diag", x.s.at(0), y.s.at(0), x.s.at(1), y.s.at(1))
	c.Back = append(c.Back, diag)

	var maxCount int64
	for _, m := range models {
		for _, b := range m.Calibration.Bins {
			maxCount = max(maxCount, b.Count)
		}
	}
	for i, m := range models {
		color := palette[i%len(palette)]
		s := svgSeries{Name: m.Name, Color: color}
		var path pathBuilder
		var pts []svgEl
		for _, b := range m.Calibration.Bins {
			if !drawnBin(b) {
				path.Break()
				continue
			}
			px, py := x.s.at(clamp01(b.MeanPredicted)), y.s.at(clamp01(b.Observed))
			path.To(px, py)
			r := 2.5 + 7*math.Sqrt(float64(b.Count)/float64(maxCount))
			title := fmt.Sprintf("%s: predicted %.3g–%.3g, %s attempts, mean predicted %.3f, observed %.3f",
				m.Name, b.Lo, b.Hi, commas(b.Count), b.MeanPredicted, b.Observed)
			pts = append(pts, circle(px, py, r, color, title))
			if i == 0 {
				pts = append(pts, text("pt-label", px+r+2, py+3, "start", countLabel(float64(b.Count))))
			}
		}
		if len(pts) == 0 {
			continue
		}
		s.Els = append([]svgEl{{Tag: "path", D: path.String(), Stroke: color}}, pts...)
		c.Series = append(c.Series, s)
	}
	c.Legend = p.legend(names, colors)
	return c
}

// drawnBin reports whether the reliability diagram draws bin b: it has
// attempts and both its means are defined.
func drawnBin(b CalibrationBin) bool {
	return b.Count > 0 && finite(b.MeanPredicted) && finite(b.Observed)
}

func clamp01(v float64) float64 { return math.Min(1, math.Max(0, v)) }

// exerciseScatter draws the model's log-likelihood against the baseline's
// per exercise, nil if no exercise has both; note says what was left out.
func exerciseScatter(rows []ExerciseRow, baseline string) (c *svgChart, note string) {
	var keep []ExerciseRow
	noThetas, undefined := 0, 0
	lo, hi := math.Inf(1), math.Inf(-1)
	var maxAttempts int64
	for _, e := range rows {
		switch {
		case e.Attempts <= 0:
			continue
		case !e.HasThetas:
			noThetas++
			continue
		case !finite(e.LogLikelihood) || !finite(e.BaselineLogLikelihood):
			undefined++
			continue
		}
		keep = append(keep, e)
		lo = math.Min(lo, math.Min(e.LogLikelihood, e.BaselineLogLikelihood))
		hi = math.Max(hi, math.Max(e.LogLikelihood, e.BaselineLogLikelihood))
		maxAttempts = max(maxAttempts, e.Attempts)
	}
	if noThetas > 0 {
		note = fmt.Sprintf("%d exercises without thetas are not shown. ", noThetas)
	}
	if undefined > 0 {
		note += fmt.Sprintf("%d exercises with an undefined log-likelihood are not shown.", undefined)
	}
	if len(keep) == 0 {
		return nil, note
	}
	// Biggest first, so that small exercises stay visible on top.
	slices.SortStableFunc(keep, func(a, b ExerciseRow) int { return cmp.Compare(b.Attempts, a.Attempts) })

	// Each exercise is a point of one series: the model better, the
	// baseline better, or the same (an exercise that kept its 6-feature
	// thetas scores as the baseline does, to rounding).
	better := svgSeries{Name: "model better", Color: colorModel}
	worse := svgSeries{Name: baseline + " better", Color: colorWorse}
	same := svgSeries{Name: "same as " + baseline, Color: colorSame}
	series := make([]*svgSeries, len(keep))
	for i, e := range keep {
		delta := e.LogLikelihood - e.BaselineLogLikelihood
		switch {
		case math.Abs(delta) <= 1e-9*math.Max(1, math.Abs(e.BaselineLogLikelihood)):
			series[i] = &same
		case delta < 0:
			series[i] = &worse
		default:
			series[i] = &better
		}
	}
	var names, colors []string
	count := map[*svgSeries]int{}
	for _, s := range series {
		count[s]++
	}
	for _, s := range []*svgSeries{&better, &worse, &same} {
		if count[s] > 0 {
			names = append(names, fmt.Sprintf("%s (%d)", s.Name, count[s]))
			colors = append(colors, s.Color)
		}
	}

	p := plot{W: 480, H: 478, Left: 56, Right: 16, Top: 30, Bottom: 40} // a square plot: y = x is the diagonal
	p.fitLegend(names)
	x := niceAxis(lo, hi, 5, p.x0(), p.x1())
	y := niceAxis(lo, hi, 5, p.y0(), p.y1())
	c = &svgChart{Kind: "exercise-ll", Label: "Log-likelihood per exercise: model against " + baseline, W: p.W, H: p.H}
	c.Back = p.frame(x, y, baseline+" log-likelihood", "model log-likelihood")
	d0, d1 := x.s.d0, x.s.d1
	c.Back = append(c.Back, line("diag", x.s.at(d0), y.s.at(d0), x.s.at(d1), y.s.at(d1)))

	var csvRows [][]string
	for i, e := range keep {
		s := series[i]
		delta := e.LogLikelihood - e.BaselineLogLikelihood
		r := 2 + 7*math.Sqrt(float64(e.Attempts)/float64(maxAttempts))
		title := fmt.Sprintf("%s: model %.4f, %s %.4f (%s), %s attempts",
			e.Exercise, round4(e.LogLikelihood), baseline, round4(e.BaselineLogLikelihood), signed(delta), commas(e.Attempts))
		s.Els = append(s.Els, circle(x.s.at(e.BaselineLogLikelihood), y.s.at(e.LogLikelihood), r, s.Color, title))
		csvRows = append(csvRows, []string{e.Exercise, csvInt(e.Attempts), csvNum(e.BaselineLogLikelihood), csvNum(e.LogLikelihood), csvNum(delta), s.Name})
	}
	for _, s := range []*svgSeries{&better, &worse, &same} {
		if len(s.Els) > 0 {
			c.Series = append(c.Series, *s)
		}
	}
	c.Legend = p.legend(names, colors)
	c.CSV = newCSVLink("exercise-ll", "exercise-ll.csv",
		[]string{"exercise", "attempts", "baseline_log_likelihood", "log_likelihood", "change", "series"}, csvRows)
	return c, note
}
