package predict_test

import (
	"fmt"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/predict"
)

// Predict a student's next answer from their history, then follow them
// attempt by attempt.
func ExampleModel_Predict() {
	// A toy version: one exercise whose thetas weigh only the bias and
	// percent_correct; every component derived from its key.
	thetas := make([]float64, features.NumFeatures)
	thetas[0] = -1 // bias
	thetas[6] = 3  // percent_correct (0.8 before any answer)
	m, err := predict.New("v1", []model.ExerciseThetas{{Exercise: "addition", Thetas: thetas}}, nil)
	if err != nil {
		panic(err)
	}
	at := func(minute int) time.Time { return time.Date(2014, 1, 1, 0, minute, 0, 0, time.UTC) }
	history := []features.ProblemLog{ // any order
		{User: "ada", TimeDone: at(2), Exercise: "addition", ProblemType: "pt0", ProblemNumber: 2, Correct: true},
		{User: "ada", TimeDone: at(1), Exercise: "addition", ProblemType: "pt0", ProblemNumber: 1, Correct: false},
	}
	p, ok := m.Predict(history, "addition")
	fmt.Printf("P(correct) = %.4f (%v)\n", p, ok)
	_, ok = m.Predict(history, "division")
	fmt.Println("division has thetas:", ok)

	s := m.NewStudent()
	for _, l := range []features.ProblemLog{
		{User: "bob", TimeDone: at(1), Exercise: "addition", ProblemType: "pt0", ProblemNumber: 1, Correct: true},
		{User: "bob", TimeDone: at(2), Exercise: "addition", ProblemType: "pt0", ProblemNumber: 2, Correct: true},
	} {
		p, _ := s.Predict(l.Exercise)
		fmt.Printf("before problem %d: %.4f\n", l.ProblemNumber, p)
		s.Apply(l)
	}
	// Output:
	// P(correct) = 0.6225 (true)
	// division has thetas: false
	// before problem 1: 0.8022
	// before problem 2: 0.8808
}
