package model

import (
	"math"
	"strings"
	"testing"
)

func TestCheckThetas(t *testing.T) {
	for _, tc := range []struct {
		n    int
		bad  float64 // set as the last theta, if not 0
		want string  // in the error; "" for none
	}{
		{107, 0, ""},
		{116, 0, ""},
		{108, 0, "108 thetas, want 107 (khan2014) or 116 (extended)"},
		{115, 0, "trained before recent_correct; train it again"},
		{107, math.NaN(), "theta 106"},
		{116, 2 * MaxAbsValue, "theta 115"},
	} {
		th := make([]float64, tc.n)
		if tc.bad != 0 {
			th[tc.n-1] = tc.bad
		}
		err := CheckThetas(th)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckThetas(%d thetas, last %v) = %v, want %q", tc.n, tc.bad, err, tc.want)
		}
	}
}
