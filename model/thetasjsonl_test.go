package model

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestThetasJSONL(t *testing.T) {
	want := []ExerciseThetas{
		{Version: "v1", Exercise: "addition_1", Thetas: []float64{1, -0.1, math.SmallestNonzeroFloat64, 1.0 / 3}},
		{Version: "v1", Exercise: "subtraction_1", Thetas: []float64{0.5}},
	}
	var b bytes.Buffer
	if err := WriteThetasJSONL(&b, want); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n"); n != len(want) {
		t.Fatalf("%d lines for %d records", n, len(want))
	}
	got, err := ReadThetasJSONL(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read %+v, wrote %+v", got, want)
	}
}

func TestReadThetasJSONLErrors(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"blank lines", "\n  \n", ""},
		{"not JSON", "{\n", "thetas line 1"},
		{"thetas not numbers", "\n" + `{"exercise":"a","thetas":["x"]}`, "thetas line 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadThetasJSONL(strings.NewReader(tt.in))
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("ReadThetasJSONL = %v, want %q", err, tt.want)
			}
		})
	}
}
