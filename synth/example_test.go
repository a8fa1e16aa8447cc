package synth_test

import (
	"fmt"
	"os"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/synth"
)

// Example writes the first logs of a small population as CSV and reports
// the planted thetas of one exercise.
func Example() {
	c := synth.DefaultConfig()
	c.Students = 2
	g, err := synth.New(c)
	if err != nil {
		panic(err)
	}
	w, err := synth.NewCSVWriter(os.Stdout, synth.CSVOptions{})
	if err != nil {
		panic(err)
	}
	n := 0
	if _, err := g.GenerateStudents(0, 1, func(l features.ProblemLog) error {
		if n++; n <= 4 {
			return w.Write(l)
		}
		return nil
	}); err != nil {
		panic(err)
	}
	w.Flush()

	th := g.Thetas()[0]
	fmt.Printf("%s %s: %d thetas, bias %.3f, ewma_3 %.3f\n", th.Version, th.Exercise, len(th.Thetas), th.Thetas[0], th.Thetas[1])
	// Output:
	// user,time_done,exercise,problem_type,problem_number,correct
	// student_0000000,2014-01-09T04:12:34.995253Z,absolute_value_1,pt2,1,true
	// student_0000000,2014-01-09T04:13:33.862270Z,absolute_value_1,pt0,2,true
	// student_0000000,2014-01-09T04:13:51.968026Z,absolute_value_1,pt2,3,true
	// student_0000000,2014-01-09T04:15:01.773723Z,absolute_value_1,pt1,4,true
	// planted addition_1: 107 thetas, bias -1.344, ewma_3 0.822
}
