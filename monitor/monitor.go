// Package monitor is the model's monitoring in plain Go: the metrics of
// one exercise on one day (Row), built from an evaluate.Report of the day's
// attempts; the summary of a monitoring run and its checks (Assemble); and
// the files a run writes, the CSV and the dashboard's data.
package monitor

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/report"
)

// DayLayout is the layout of a Row's day.
const DayLayout = "2006-01-02"

// CSVHeader is the header of CSVFile.
var CSVHeader = []string{"day", "exercise", "attempts", "correct", "log_likelihood", "auc", "accuracy"}

// Files a monitoring run writes into its output directory, all or none.
const (
	CSVFile       = "monitor.csv"
	SummaryFile   = "monitor_summary.json"
	DashboardFile = "dashboard.html"
)

// Row is the model's metrics on one exercise on one day. Undefined
// metrics are nil: all three when no attempt was scored, the AUC also when
// the day's attempts were all correct or all wrong.
type Row struct {
	Day      string `json:"day"` // YYYY-MM-DD, UTC
	Exercise string `json:"exercise"`
	// Attempts and Correct count the scored attempts.
	Attempts int64 `json:"attempts"`
	Correct  int64 `json:"correct"`
	// NoThetas counts the attempts on the exercise, which the model has no
	// thetas for; they are not scored.
	NoThetas      int64    `json:"no_thetas,omitempty"`
	LogLikelihood *float64 `json:"log_likelihood"`
	AUC           *float64 `json:"auc"`
	Accuracy      *float64 `json:"accuracy"`
}

// DayRows turns a day's report into rows, sorted by exercise.
func DayRows(day string, rep evaluate.Report) []Row {
	var rows []Row
	for _, e := range rep.Exercises {
		rows = append(rows, Row{
			Day: day, Exercise: e.Exercise, Attempts: e.Attempts, Correct: e.Correct,
			LogLikelihood: e.LogLikelihood, AUC: e.AUC, Accuracy: e.Accuracy,
		})
	}
	for _, e := range rep.NoThetas.Exercises {
		rows = append(rows, Row{Day: day, Exercise: e.Exercise, NoThetas: e.Attempts})
	}
	slices.SortFunc(rows, func(a, b Row) int { return strings.Compare(a.Exercise, b.Exercise) })
	return rows
}

// Summary is what a monitoring run read and scored
// (SummaryFile).
type Summary struct {
	ModelVersion string    `json:"model_version"`
	Model        string    `json:"model"`
	Input        string    `json:"input"`
	Created      time.Time `json:"created"`

	model.InputCounts
	Students int64 `json:"students"`

	AttemptsScored   int64 `json:"attempts_scored"`
	AttemptsNoThetas int64 `json:"attempts_no_thetas"`
	// NoThetasExercises counts the attempts of each exercise the model has
	// no thetas for, most attempts first.
	NoThetasExercises []evaluate.ExerciseCount `json:"no_thetas_exercises,omitempty"`
	Exercises         int                      `json:"exercises"` // scored exercises
	Days              int                      `json:"days"`      // days with a scored attempt
	First             string                   `json:"first,omitempty"`
	Last              string                   `json:"last,omitempty"`
	Rows              int                      `json:"rows"` // (exercise, day) rows written
}

// Assemble checks a monitoring run and completes its summary: sum holds
// what the run read and counted (every field up to AttemptsNoThetas),
// versions the model versions its workers predicted with, rows the rows of
// MergeDays. It returns the summary and the scored rows, sorted by day and
// exercise.
func Assemble(sum Summary, versions []string, rows []Row) (Summary, []Row, error) {
	if err := sum.CheckLogs(); err != nil {
		return sum, nil, err
	}
	switch len(versions) {
	case 0:
		return sum, nil, errors.New("no attempt was predicted")
	case 1:
		sum.ModelVersion = versions[0]
	default:
		return sum, nil, fmt.Errorf("the workers predicted with different model versions %q (the current version changed during the run?); run again", versions)
	}
	noThetas := map[string]int64{}
	var scored []Row
	exercises, days := map[string]bool{}, map[string]bool{}
	var total int64
	for _, r := range rows {
		noThetas[r.Exercise] += r.NoThetas
		if r.Attempts == 0 {
			continue
		}
		scored = append(scored, r)
		total += r.Attempts
		exercises[r.Exercise], days[r.Day] = true, true
	}
	for ex, n := range noThetas {
		if n > 0 {
			sum.NoThetasExercises = append(sum.NoThetasExercises, evaluate.ExerciseCount{Exercise: ex, Attempts: n})
		}
	}
	slices.SortFunc(sum.NoThetasExercises, func(a, b evaluate.ExerciseCount) int {
		return cmp.Or(cmp.Compare(b.Attempts, a.Attempts), strings.Compare(a.Exercise, b.Exercise))
	})
	if total != sum.AttemptsScored {
		return sum, nil, fmt.Errorf("%d attempts in the rows, %d scored", total, sum.AttemptsScored)
	}
	if total == 0 {
		return sum, nil, fmt.Errorf("no attempt is on an exercise version %s has thetas for (%d attempts on %d exercises without thetas)",
			sum.ModelVersion, sum.AttemptsNoThetas, len(sum.NoThetasExercises))
	}
	slices.SortFunc(scored, func(a, b Row) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.Exercise, b.Exercise))
	})
	sum.Exercises, sum.Days, sum.Rows = len(exercises), len(days), len(scored)
	sum.First, sum.Last = scored[0].Day, scored[len(scored)-1].Day
	return sum, scored, nil
}

// WriteCSV writes rows as CSV with the header
// day,exercise,attempts,correct,log_likelihood,auc,accuracy; undefined
// metrics are empty, floats are written exactly (shortest round-trip form).
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, r := range rows {
		cw.Write([]string{r.Day, r.Exercise, strconv.FormatInt(r.Attempts, 10), strconv.FormatInt(r.Correct, 10),
			formatMetric(r.LogLikelihood), formatMetric(r.AUC), formatMetric(r.Accuracy)})
	}
	cw.Flush()
	return cw.Error()
}

func formatMetric(v *float64) string {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return ""
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}

func orNaN(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

// Dashboard converts the rows (sorted by day) into the dashboard's
// series, one per exercise.
func Dashboard(sum Summary, rows []Row) report.Dashboard {
	byEx := map[string][]report.DayPoint{}
	for _, r := range rows {
		byEx[r.Exercise] = append(byEx[r.Exercise], report.DayPoint{
			Day: r.Day, Attempts: r.Attempts, LogLikelihood: orNaN(r.LogLikelihood), AUC: orNaN(r.AUC),
		})
	}
	d := report.Dashboard{
		Title:   "Knowledge model monitoring",
		Model:   sum.ModelVersion,
		Window:  sum.Input,
		Created: sum.Created.UTC().Format(time.RFC3339),
	}
	if sum.Model != "" {
		d.Model += " (" + sum.Model + ")"
	}
	if sum.AttemptsNoThetas > 0 {
		d.Window += fmt.Sprintf(" · %d attempts on %d exercises without thetas not scored", sum.AttemptsNoThetas, len(sum.NoThetasExercises))
	}
	for ex, pts := range byEx {
		d.Series = append(d.Series, report.ExerciseSeries{Exercise: ex, Points: pts})
	}
	slices.SortFunc(d.Series, func(a, b report.ExerciseSeries) int { return strings.Compare(a.Exercise, b.Exercise) })
	return d
}
