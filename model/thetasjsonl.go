package model

import (
	"io"

	"github.com/kmtrain/knowledgemodel/internal/jsonl"
)

// WriteThetasJSONL writes thetas one JSON object per line, in the order
// given: the format of ThetasFile. Values keep full float64 precision.
func WriteThetasJSONL(w io.Writer, thetas []ExerciseThetas) error {
	return jsonl.Write(w, thetas)
}

// ReadThetasJSONL reads thetas written by WriteThetasJSONL. Blank lines are
// skipped; a line that is not a JSON ExerciseThetas is an error naming the
// line. What the records hold is checked where a model is made of them
// (package predict's New, CheckThetas).
func ReadThetasJSONL(r io.Reader) ([]ExerciseThetas, error) {
	return jsonl.Read[ExerciseThetas](r, "thetas", nil)
}
