package model

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// WriteThetasJSONL writes thetas one JSON object per line, in the order
// given: the format of ThetasFile. Values keep full float64 precision.
func WriteThetasJSONL(w io.Writer, thetas []ExerciseThetas) error {
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
// skipped; a line that is not a JSON ExerciseThetas is an error naming the
// line. What the records hold is checked where a model is made of them
// (package predict's New, CheckThetas).
func ReadThetasJSONL(r io.Reader) ([]ExerciseThetas, error) {
	var out []ExerciseThetas
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var t ExerciseThetas
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, fmt.Errorf("thetas line %d: %v", line, err)
		}
		out = append(out, t)
	}
	return out, sc.Err()
}
