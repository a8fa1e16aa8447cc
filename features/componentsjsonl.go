package features

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/kmtrain/knowledgemodel/internal/jsonl"
)

// componentJSON is one line of a components table in JSONL, the format of the
// conformance case: {"exercise","problem_type","correct","vector"}.
type componentJSON struct {
	Exercise    string    `json:"exercise"`
	ProblemType string    `json:"problem_type"`
	Correct     bool      `json:"correct"`
	Vector      []float64 `json:"vector"`
}

// MarshalJSON writes the component as one line of a components table.
func (c Component) MarshalJSON() ([]byte, error) {
	return json.Marshal(componentJSON{c.Exercise, c.ProblemType, c.Correct, c.Vector})
}

// UnmarshalJSON reads a component written by MarshalJSON.
func (c *Component) UnmarshalJSON(b []byte) error {
	var cj componentJSON
	if err := json.Unmarshal(b, &cj); err != nil {
		return err
	}
	*c = Component{ComponentKey{cj.Exercise, cj.ProblemType, cj.Correct}, cj.Vector}
	return nil
}

// ReadComponentsJSONL reads a components table, one JSON object per line.
// Blank lines are skipped; anything else that is not a valid component is an
// error naming the line, as is an exercise or a problem type that a
// ProblemLog could not hold (CheckExercise, CheckProblemType; the problem
// type may be empty).
func ReadComponentsJSONL(r io.Reader) ([]Component, error) {
	return jsonl.Read(r, "components", func(c *Component) error {
		if c.Exercise == "" {
			return errors.New("no exercise")
		}
		// The names of ProblemLogs' (features/names.go): a component is
		// stored under them.
		if err := CheckExercise(c.Exercise); err != nil {
			return fmt.Errorf("exercise: %v", err)
		}
		if err := CheckProblemType(c.ProblemType, true); err != nil {
			return fmt.Errorf("problem_type: %v", err)
		}
		return c.Validate()
	})
}

// WriteComponentsJSONL writes components one JSON object per line, in the
// order given. Values keep full float64 precision.
func WriteComponentsJSONL(w io.Writer, comps []Component) error {
	return jsonl.Write(w, comps)
}
