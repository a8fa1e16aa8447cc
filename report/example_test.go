package report_test

import (
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/kmtrain/knowledgemodel/report"
)

func ExampleWriteEvalReport() {
	r := report.EvalReport{
		Title:    "kmtrain evaluation",
		Version:  "20261126T121927Z",
		Created:  "2026-11-26 12:19 UTC",
		Settings: map[string]string{"l2": "1.0"},
		Models: []report.ModelMetrics{
			{Name: "model", Attempts: 1000, LogLikelihood: -0.52, AUC: 0.78, Accuracy: 0.74,
				Calibration: report.Calibration{Bins: []report.CalibrationBin{
					{Lo: 0.2, Hi: 0.4, Count: 300, MeanPredicted: 0.31, Observed: 0.29},
					{Lo: 0.6, Hi: 0.8, Count: 700, MeanPredicted: 0.72, Observed: 0.75},
				}}},
			{Name: "exercise mean", Attempts: 1000, LogLikelihood: -0.58, AUC: math.NaN(), Accuracy: 0.70},
		},
		Exercises: []report.ExerciseRow{
			{Exercise: "addition_1", Attempts: 600, LogLikelihood: -0.45, BaselineLogLikelihood: -0.50, AUC: 0.8, Accuracy: 0.8, HasThetas: true},
			{Exercise: "fractions <1/2>", Attempts: 400, LogLikelihood: -0.62, BaselineLogLikelihood: -0.60, AUC: 0.7, Accuracy: 0.7, HasThetas: true},
		},
		Gate: &report.Gate{Passed: true, Current: "20261125T000000Z", Attempts: 1000, New: -0.52, CurrentLL: -0.53, Delta: 0.01, MaxRegression: 0.002},
	}
	var page strings.Builder
	if err := report.WriteEvalReport(&page, r); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	// Write page.String() to report.html and open it in a browser.
	fmt.Println(strings.Contains(page.String(), `<svg class="chart" data-chart="calibration"`))
	fmt.Println(strings.Contains(page.String(), "fractions &lt;1/2&gt;"))
	// Output:
	// true
	// true
}
