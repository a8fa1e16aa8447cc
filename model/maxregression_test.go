package model

import (
	"math"
	"testing"
)

func TestCheckMaxRegression(t *testing.T) {
	for _, c := range []struct {
		x  float64
		ok bool
	}{{0.002, true}, {0, true}, {-0.01, true}, {math.NaN(), false}, {math.Inf(1), false}, {math.Inf(-1), false}} {
		if err := CheckMaxRegression(c.x); (err == nil) != c.ok {
			t.Errorf("CheckMaxRegression(%v) = %v", c.x, err)
		}
	}
}
