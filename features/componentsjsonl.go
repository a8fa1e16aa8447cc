package features

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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
	var out []Component
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var c Component
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("components line %d: %v", line, err)
		}
		if c.Exercise == "" {
			return nil, fmt.Errorf("components line %d: no exercise", line)
		}
		// The names of ProblemLogs' (features/names.go): a component is
		// stored under them.
		if e := CheckExercise(c.Exercise); e != nil {
			return nil, fmt.Errorf("components line %d: exercise: %v", line, e)
		}
		if e := CheckProblemType(c.ProblemType, true); e != nil {
			return nil, fmt.Errorf("components line %d: problem_type: %v", line, e)
		}
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("components line %d: %v", line, err)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

// WriteComponentsJSONL writes components one JSON object per line, in the
// order given. Values keep full float64 precision.
func WriteComponentsJSONL(w io.Writer, comps []Component) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, c := range comps {
		if err := enc.Encode(c); err != nil {
			return err
		}
	}
	return bw.Flush()
}
