// Package report writes self-contained HTML pages about the knowledge
// model: the evaluation report of a training run (WriteEvalReport) and the
// monitoring dashboard of log-likelihood per exercise per day
// (WriteDashboard).
//
// A page is one HTML file with its styles and its charts inline: the
// charts are SVG drawn in Go, with no JavaScript and nothing fetched, so a
// page renders offline, from a bucket or as a mail attachment. Every text
// that comes from the input (titles, model and exercise names, settings)
// goes through html/template, in the HTML and in the SVG alike.
//
// Every chart's root element is <svg class="chart" data-chart="KIND">, and
// each of its data series a <g class="series" data-series="NAME">, so a
// test (or a reader of the DOM) can find them. The kinds are "calibration"
// and "exercise-ll" on the evaluation report and "exercise-day" on the
// dashboard. Where a chart has nothing to draw the page says so in a
// <p class="empty"> instead.
//
// The input types are plain structs independent of the rest of the module:
// the caller converts its metrics into them. Log-likelihoods are natural
// logs averaged per attempt, so they are at most 0; NaN marks a value that
// is undefined (an AUC with one class only, say): such values print as "—"
// and are left out of the charts.
package report

import "time"

// Calibration is a model's reliability data: its attempts binned by
// predicted probability.
type Calibration struct {
	Bins []CalibrationBin
}

// CalibrationBin is one bin of predicted probabilities [Lo, Hi): how many
// attempts fell in it, their mean predicted probability of a correct
// answer and the fraction that were correct.
type CalibrationBin struct {
	Lo, Hi        float64
	Count         int64
	MeanPredicted float64
	Observed      float64
}

// ModelMetrics are one model's metrics over the evaluation attempts.
type ModelMetrics struct {
	Name          string
	Attempts      int64
	LogLikelihood float64 // mean per attempt, ≤ 0
	AUC           float64 // NaN: undefined
	Accuracy      float64 // fraction of attempts predicted right at 0.5
	Calibration   Calibration
}

// ExerciseRow is the model's metrics on one exercise, with the baseline's
// log-likelihood on the same attempts.
type ExerciseRow struct {
	Exercise              string
	Attempts              int64
	LogLikelihood         float64 // the model's, mean per attempt
	BaselineLogLikelihood float64 // the baseline's (the first baseline in EvalReport.Models), mean per attempt
	AUC                   float64 // NaN: undefined
	Accuracy              float64
	HasThetas             bool // false: the model has no thetas for the exercise
}

// EvalReport is the evaluation of a training run.
type EvalReport struct {
	Title    string
	Version  string // the model's version
	Created  string // when the report was made, as the caller formats it
	Settings map[string]string
	// Models are the model first, then the baselines it is compared with.
	Models    []ModelMetrics
	Exercises []ExerciseRow
	// NoThetasAttempts attempts, on NoThetasExercises exercises, are on
	// exercises the model has no thetas for.
	NoThetasAttempts  int64
	NoThetasExercises int
	// Gate is the verdict of the regression gate, nil if none ran.
	Gate *Gate
	// Segments are the metrics per segment of the attempts (the student's
	// first attempt at the exercise, the 2nd to 5th, later), each with one
	// entry per model, in the order of Models.
	Segments []SegmentRow
}

// SegmentRow is the models' metrics on one segment of the attempts.
type SegmentRow struct {
	Segment  string
	Attempts int64
	// LogLikelihood and AUC hold each model's, in the order of
	// EvalReport.Models; NaN: undefined.
	LogLikelihood, AUC []float64
}

// Gate is the verdict of the gate that compares a new model with the one in
// production (Current) on the same attempts before publishing it.
type Gate struct {
	Passed bool
	Forced bool // published although the gate failed
	// Current names the production model compared with.
	Current string
	// Attempts is how many attempts the comparison used.
	Attempts int64
	// New and CurrentLL are the models' mean log-likelihoods, Delta is
	// New - CurrentLL, and MaxRegression the largest drop allowed.
	New, CurrentLL, Delta, MaxRegression float64
	Reason                               string
}

// DayPoint is one exercise's attempts on one day.
type DayPoint struct {
	Day           string  // YYYY-MM-DD
	Attempts      int64   // 0: no data that day
	LogLikelihood float64 // mean per attempt, ≤ 0; NaN: undefined
	AUC           float64 // NaN: undefined
}

// ExerciseSeries is one exercise's days, sorted by day.
type ExerciseSeries struct {
	Exercise string
	Points   []DayPoint
}

// Dashboard is the monitoring data: the model's log-likelihood per exercise
// per day over a window.
type Dashboard struct {
	Title   string
	Model   string // the model's name or version
	Window  string // the window the data covers, as the caller says it
	Created string
	Series  []ExerciseSeries
	// Period is the length of each point's period: 0 for a day, each
	// point's Day a date (YYYY-MM-DD); shorter periods (a stream's
	// windows) name each point by its start, RFC 3339.
	Period time.Duration
}
