package jsonl

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

type point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

func TestRoundTrip(t *testing.T) {
	want := []point{{1, 2}, {0.1, 1.0 / 3}}
	var b bytes.Buffer
	if err := Write(&b, want); err != nil {
		t.Fatal(err)
	}
	if b.String() != "{\"x\":1,\"y\":2}\n{\"x\":0.1,\"y\":0.3333333333333333}\n" {
		t.Fatalf("wrote %q", b.String())
	}
	got, err := Read[point](&b, "points", nil)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read %v, %v; wrote %v", got, err, want)
	}
}

// TestReadMaxLine reads a line of exactly MaxLine bytes, alone or ended
// by "\n" or "\r\n".
func TestReadMaxLine(t *testing.T) {
	line := `"` + strings.Repeat("a", MaxLine-2) + `"`
	for _, in := range []string{line, line + "\n", line + "\r\n"} {
		if got, err := Read[string](strings.NewReader(in), "names", nil); err != nil || len(got) != 1 {
			t.Errorf("a line of MaxLine bytes and %q: %d values, %v", in[len(line):], len(got), err)
		}
	}
}

func TestReadErrors(t *testing.T) {
	positive := func(p *point) error {
		if p.X <= 0 {
			return errors.New("x not positive")
		}
		return nil
	}
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"blank lines", "\n \t\n", ""},
		{"not JSON", "\n{\"x\":", "points line 2: unexpected end of JSON input"},
		{"wrong type", `{"x":"one"}`, "points line 1: json: cannot unmarshal"},
		{"rejected", `{"x":1}` + "\n\n" + `{"x":-1}`, "points line 3: x not positive"},
		{"line too long", `{"x":1}` + "\n" + strings.Repeat(" ", MaxLine+1), "points line 2: 16777217 bytes, longer than 16777216"},
		{"line far too long", `{"x":1}` + "\n" + strings.Repeat(" ", MaxLine+3), "points line 2: bufio.Scanner: token too long"},
		{"line too long, then a newline", `{"x":1}` + "\n" + strings.Repeat(" ", MaxLine+1) + "\n", "points line 2: 16777217 bytes, longer than 16777216"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(strings.NewReader(tt.in), "points", positive)
			if tt.want == "" {
				if err != nil || len(got) != 0 {
					t.Fatalf("Read = %v, %v; want nothing", got, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || got != nil {
				t.Fatalf("Read = %v, %v; want the error %q", got, err, tt.want)
			}
		})
	}
}
