package features_test

import (
	"fmt"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
)

// Replay a student's history and look at the features of each attempt,
// computed before the attempt is applied.
func ExampleReplay() {
	at := func(minute int) time.Time { return time.Date(2014, 1, 1, 0, minute, 0, 0, time.UTC) }
	logs := []features.ProblemLog{
		{User: "ada", TimeDone: at(2), Exercise: "addition", ProblemType: "pt0", ProblemNumber: 2, Correct: true},
		{User: "ada", TimeDone: at(1), Exercise: "addition", ProblemType: "pt0", ProblemNumber: 1, Correct: false},
		{User: "ada", TimeDone: at(3), Exercise: "subtraction", ProblemType: "pt1", ProblemNumber: 1, Correct: true},
	}
	components, _ := features.NewComponents(nil) // derive every component from its key
	err := features.Replay(logs, components, features.ReplayOptions{Window: features.DefaultWindow}, func(r *features.Row) {
		fmt.Printf("%s #%d: ewma_3=%.4f streak=%v percent_correct=%.2f components=%d\n",
			r.Exercise, r.ProblemNumber, r.X[1], r.X[3], r.X[6], len(r.Knowledge))
	})
	fmt.Println("error:", err)
	// Output:
	// addition #1: ewma_3=0.9000 streak=0 percent_correct=0.80 components=0
	// addition #2: ewma_3=0.6003 streak=0 percent_correct=0.00 components=1
	// subtraction #1: ewma_3=0.9000 streak=0 percent_correct=0.80 components=1
	// error: <nil>
}

// An ExerciseState keeps the last 20 answers of one exercise.
func ExampleExerciseState() {
	var s features.ExerciseState
	for _, correct := range []bool{true, false, true, true} {
		s.Update(correct)
	}
	x := make([]float64, features.NumExerciseFeatures)
	s.Features(x)
	for i, v := range x {
		fmt.Printf("%s=%.4f\n", features.FeatureNames[1+i], v)
	}
	// Output:
	// ewma_3=0.8321
	// ewma_10=0.8534
	// current_streak=2.0000
	// log_num_done=1.3863
	// log_num_missed=0.6931
	// percent_correct=0.7500
}
