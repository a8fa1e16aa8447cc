package synth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
)

// WriteThetasJSONL writes thetas one JSON object per line, in the order
// given. Values keep full float64 precision.
func WriteThetasJSONL(w io.Writer, thetas []model.ExerciseThetas) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, t := range thetas {
		if err := enc.Encode(t); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadThetasJSONL reads thetas written by WriteThetasJSONL. Blank lines are
// skipped; a line that is not a record with an exercise and
// features.NumFeatures thetas is an error naming the line.
func ReadThetasJSONL(r io.Reader) ([]model.ExerciseThetas, error) {
	var out []model.ExerciseThetas
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var t model.ExerciseThetas
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, fmt.Errorf("thetas line %d: %v", line, err)
		}
		if t.Exercise == "" {
			return nil, fmt.Errorf("thetas line %d: no exercise", line)
		}
		if len(t.Thetas) != features.NumFeatures {
			return nil, fmt.Errorf("thetas line %d: %d thetas, want %d", line, len(t.Thetas), features.NumFeatures)
		}
		out = append(out, t)
	}
	return out, sc.Err()
}
