package transforms

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/report"
	"github.com/kmtrain/knowledgemodel/score"
)

// ReportFile is the evaluation report a run writes beside its summary; a
// run that evaluated nothing writes one that says so, so that no earlier
// version's report is left beside the new files.
const ReportFile = "report.html"

// evaluation merges the held-out evaluation into the version's summary and
// decides the promotion gate.
func (fn *writeModelFn) evaluation(v *model.Version, evalIter func(*EvalPartial) bool) error {
	ev, ok, err := mergePartials(evalIter)
	if err != nil || (!ok && !fn.Out.Evaluated) {
		return err
	}
	// An evaluation that was asked for and found no student is reported as
	// such, not left out of the summary.
	if !ok {
		ev.Acc = evaluate.NewAccumulator(score.BaselineNames...)
	}
	rep := ev.Acc.Report()
	v.Summary.Evaluation = &rep
	// Only a run that promotes compares with the current version (the
	// evaluation loads it): a staged version gets no gate, rather than one
	// that says nothing was current.
	if fn.Out.Datastore == nil || !fn.Out.Datastore.Promote {
		return nil
	}
	base := model.NewBaselineCheck(rep.Overall, rep.Baselines[BaselineNoKnowledge].Overall)
	v.Summary.Gate = model.NewGate(ev.Cmp.Comparison(), ev.Currents, ok, base, fn.Out.MaxRegression, fn.Out.ForcePromote)
	return nil
}

// writeEvalReport renders a run's evaluation as the HTML report; a run
// without one gets a page that says so and gives its settings.
func writeEvalReport(w io.Writer, sum model.Summary) error {
	ev := sum.Evaluation
	title := "Held-out evaluation of version " + sum.Version
	if ev == nil {
		title = "Version " + sum.Version + " was trained without a held-out evaluation"
		ev = &evaluate.Report{}
	}
	r := report.EvalReport{
		Title:             title,
		Version:           sum.Version,
		Created:           sum.Created.UTC().Format("2006-01-02 15:04:05 UTC"),
		NoThetasAttempts:  ev.NoThetas.Attempts,
		NoThetasExercises: len(ev.NoThetas.Exercises),
		Settings: map[string]string{
			"input":           sum.Input,
			"held out":        sum.Holdout,
			"problem numbers": sum.Settings.ProblemNumbers,
			"component key":   sum.Settings.ComponentKey,
			"preset":          sum.Settings.Preset,
			"features":        sum.Settings.Features,
			"l2 auto":         strconv.FormatBool(sum.Settings.L2Auto),
			"l2":              strconv.FormatFloat(sum.Settings.L2, 'g', -1, 64),
			"min_rows":        strconv.Itoa(sum.Settings.MinRows),
			"max_rows":        strconv.Itoa(sum.Settings.MaxRows),
		},
	}
	fs, _ := features.ParseFeatureSet(sum.Settings.Features)
	r.Models = append(r.Models, modelMetrics(fmt.Sprintf("knowledge model (%d features)", fs.Dim()), ev.Evaluation))
	names := make([]string, 0, len(ev.Baselines))
	for name := range ev.Baselines {
		names = append(names, name)
	}
	sort.Strings(names)
	// The 6-feature model first: the per-exercise chart compares with it.
	sort.SliceStable(names, func(i, j int) bool { return names[i] == BaselineNoKnowledge })
	for _, name := range names {
		r.Models = append(r.Models, modelMetrics(baselineLabel(name), ev.Baselines[name]))
	}
	for _, sg := range ev.Segments {
		row := report.SegmentRow{Segment: sg.Segment, Attempts: sg.Attempts}
		for _, m := range append([]evaluate.Metrics{sg.Metrics}, segmentBaselines(sg, names)...) {
			row.LogLikelihood = append(row.LogLikelihood, deref(m.LogLikelihood))
			row.AUC = append(row.AUC, deref(m.AUC))
		}
		r.Segments = append(r.Segments, row)
	}
	base := map[string]float64{}
	if b, ok := ev.Baselines[BaselineNoKnowledge]; ok {
		for _, e := range b.Exercises {
			base[e.Exercise] = deref(e.LogLikelihood)
		}
	}
	for _, e := range ev.Exercises {
		bl, ok := base[e.Exercise]
		if !ok {
			bl = math.NaN()
		}
		r.Exercises = append(r.Exercises, report.ExerciseRow{Exercise: e.Exercise, Attempts: e.Attempts,
			LogLikelihood: deref(e.LogLikelihood), BaselineLogLikelihood: bl, AUC: deref(e.AUC),
			Accuracy: deref(e.Accuracy), HasThetas: true})
	}
	if g := sum.Gate; g != nil {
		r.Gate = &report.Gate{Passed: g.Passed, Forced: g.Forced, Current: g.CurrentVersion, Attempts: g.Attempts,
			New: g.New, CurrentLL: g.Comparison.Current, Delta: g.Delta, MaxRegression: g.MaxRegression, Reason: g.Reason}
	}
	return report.WriteEvalReport(w, r)
}

// segmentBaselines returns the named baselines' metrics on a segment.
func segmentBaselines(sg evaluate.SegmentMetrics, names []string) []evaluate.Metrics {
	out := make([]evaluate.Metrics, len(names))
	for i, n := range names {
		out[i] = sg.Baselines[n]
	}
	return out
}

func baselineLabel(name string) string {
	switch name {
	case BaselineNoKnowledge:
		return "6 features, no KnowledgeState"
	case BaselineCorrectRate:
		return "exercise correct rate"
	}
	return name
}

func modelMetrics(name string, e evaluate.Evaluation) report.ModelMetrics {
	m := report.ModelMetrics{Name: name, Attempts: e.Overall.Attempts, LogLikelihood: deref(e.Overall.LogLikelihood),
		AUC: deref(e.Overall.AUC), Accuracy: deref(e.Overall.Accuracy)}
	for _, b := range e.Overall.Calibration {
		m.Calibration.Bins = append(m.Calibration.Bins, report.CalibrationBin{Lo: b.Lower, Hi: b.Upper, Count: b.Attempts,
			MeanPredicted: deref(b.MeanPredicted), Observed: deref(b.ObservedRate)})
	}
	return m
}

// deref reads an optional metric: NaN where it is undefined.
func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}
