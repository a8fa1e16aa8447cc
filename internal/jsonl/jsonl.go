// Package jsonl reads and writes JSON Lines, one JSON value per line: the
// format of a model's thetas and components files.
package jsonl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// MaxLine is the longest line Read accepts, in bytes.
const MaxLine = 16 << 20

// Write writes each value as one line of JSON, in the order given. Floats
// keep full float64 precision.
func Write[T any](w io.Writer, values []T) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Read decodes each line of r that is not blank into a T. check, if not
// nil, may reject a value. A line that does not decode, is rejected or is
// longer than MaxLine is an error that names what is read and the line:
// "thetas line 3: ...".
func Read[T any](r io.Reader, what string, check func(*T) error) ([]T, error) {
	var out []T
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), MaxLine+2) // the line and its "\r\n"
	line := 1
	for ; sc.Scan(); line++ {
		if n := len(bytes.TrimSuffix(sc.Bytes(), []byte("\r"))); n > MaxLine {
			return nil, fmt.Errorf("%s line %d: %d bytes, longer than %d", what, line, n, MaxLine)
		}
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var v T
		err := json.Unmarshal(b, &v)
		if err == nil && check != nil {
			err = check(&v)
		}
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %v", what, line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s line %d: %v", what, line, err)
	}
	return out, nil
}
