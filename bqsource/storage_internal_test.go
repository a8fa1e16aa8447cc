package bqsource

import (
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// TestMalformedStringColumn: a batch whose string offsets fall back or
// leave the data is an error, not a slice out of bounds when a row is read.
func TestMalformedStringColumn(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "user", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	for _, c := range []struct {
		offsets []int32
		bad     bool
	}{
		{[]int32{0, 2, 4}, false},
		{[]int32{0, 4, 2}, true}, // falls back; Arrow checks only the last
		{[]int32{-1, 2, 4}, true},
		{[]int32{0, 3, 3}, false},
	} {
		data := array.NewData(arrow.BinaryTypes.String, 2,
			[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c.offsets)), memory.NewBufferBytes([]byte("abcd"))}, nil, 0, 0)
		rec := array.NewRecord(schema, []arrow.Array{array.NewStringData(data)}, 2)
		var a accessor
		err := a.set(rec)
		if c.bad != (err != nil) || (err != nil && !strings.Contains(err.Error(), `column "user": malformed Arrow batch`)) {
			t.Errorf("offsets %v: %v", c.offsets, err)
		}
		if err == nil {
			var cl cell
			a.get(1, &cl)
		}
	}
}
