package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
)

const khanRows = "../../testdata/khan2014/expected_rows.csv.gz"

// scipyLosses are the losses printed by shared/anchors/scipy_train.py
// (fmin_l_bfgs_b, l2 0.001) on the Khan conformance rows.
var scipyLosses = map[string]float64{
	"ex_addition_0":  0.183435339384,
	"ex_angles_6":    0.266584044870,
	"ex_areas_10":    0.219815998581,
	"ex_counting_2":  0.319496229166,
	"ex_decimals_7":  0.325107905683,
	"ex_fractions_1": 0.360856067964,
	"ex_graphs_11":   0.228482741636,
	"ex_limits_9":    0.137345706396,
	"ex_primes_5":    0.349925761579,
	"ex_ratios_8":    0.151234707036,
	"ex_slopes_3":    0.174436553989,
	"ex_vectors_4":   0.268762863584,
}

var (
	exerciseLine = regexp.MustCompile(`^exercise=(\S+) rows=(\d+) loss=(\d+\.\d{12}) iterations=(\d+) seconds=\d+\.\d{4}$`)
	totalLine    = regexp.MustCompile(`^total exercises=(\d+) rows=(\d+) seconds=\d+\.\d{4} method=lbfgs l2=(\S+)$`)
)

type trainOutput struct {
	names  []string
	losses map[string]float64
	total  []string // exercises, rows, l2
}

func runTrainOK(t *testing.T, args ...string) trainOutput {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"train"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	out := trainOutput{losses: map[string]float64{}}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	for i, l := range lines {
		if i == len(lines)-1 {
			m := totalLine.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("last line %q is not a total line", l)
			}
			out.total = m[1:]
			break
		}
		m := exerciseLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q is not an exercise line", l)
		}
		loss, _ := strconv.ParseFloat(m[3], 64)
		out.names = append(out.names, m[1])
		out.losses[m[1]] = loss
	}
	return out
}

func TestTrainMatchesSciPy(t *testing.T) {
	for _, workers := range []string{"1", "2"} {
		out := runTrainOK(t, "--rows", khanRows, "--workers", workers, "--runs", "2")
		if !slices.IsSorted(out.names) || len(out.names) != len(scipyLosses) {
			t.Errorf("workers %s: exercises %v", workers, out.names)
		}
		for e, want := range scipyLosses {
			if got, ok := out.losses[e]; !ok || math.Abs(got-want) > 1e-7 {
				t.Errorf("workers %s: %s loss %.12f, SciPy %.12f", workers, e, got, want)
			}
		}
		if want := []string{"12", "3797", "0.001"}; !slices.Equal(out.total, want) {
			t.Errorf("workers %s: total %v, want %v", workers, out.total, want)
		}
	}
}

func TestTrainFlags(t *testing.T) {
	out := runTrainOK(t, "--rows", khanRows, "--min_rows", "400", "--l2", "0.01", "--max_iterations", "3")
	if !slices.Equal(out.names, []string{"ex_decimals_7", "ex_graphs_11"}) {
		t.Errorf("exercises with at least 400 rows: %v", out.names)
	}
	if want := []string{"2", "959", "0.01"}; !slices.Equal(out.total, want) {
		t.Errorf("total %v, want %v", out.total, want)
	}

	// A plain (not gzipped) file with the columns in another order.
	plain := filepath.Join(t.TempDir(), "rows.csv")
	var b bytes.Buffer
	b.WriteString("correct,exercise")
	for i := 0; i < 100; i++ {
		b.WriteString(",ks_" + strconv.Itoa(i))
	}
	b.WriteString(",percent_correct,log_num_missed,log_num_done,current_streak,ewma_10,ewma_3\n")
	for i := 0; i < 30; i++ {
		b.WriteString(strconv.Itoa(i%3%2) + ",ex")
		for j := 0; j < 106; j++ {
			b.WriteString("," + strconv.FormatFloat(float64((i*j)%7)/7, 'g', -1, 64))
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(plain, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := runTrainOK(t, "--rows", plain); !slices.Equal(out.total, []string{"1", "30", "0.001"}) {
		t.Errorf("plain file: total %v", out.total)
	}
}

func TestRunErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "usage"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"no rows flag", []string{"train"}, 1, "--rows is required"},
		{"missing file", []string{"train", "--rows", "/nonexistent/rows.csv"}, 1, "no such file"},
		{"bad flag", []string{"train", "--bogus"}, 1, "flag provided but not defined"},
		{"bad runs", []string{"train", "--rows", khanRows, "--runs", "0"}, 1, "at least 1"},
		{"bad l2_extended", []string{"features", "--train", "a.csv", "--test", "b.csv", "--l2_extended", "always"}, 1, `--l2_extended="always": want one_se or best`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tc.code, tc.want)
			}
		})
	}
}

// TestTrainRunsSameFailure checks that --runs compares a fit that fails the
// same way in every run (a NaN feature: a NaN loss) as the same result,
// not as a run-to-run difference.
func TestTrainRunsSameFailure(t *testing.T) {
	var b strings.Builder
	b.WriteString(strings.Join(features.RowsCSVHeader(), ",") + "\n")
	for i := range 4 {
		vals := make([]string, features.NumFeatures-1)
		for j := range vals {
			vals[j] = "0.5"
		}
		if i == 0 {
			vals[0] = "NaN"
		}
		b.WriteString("u,ex_bad,pt,1,2014-01-01T00:00:00.000000Z," + strconv.Itoa(i%2) + "," + strings.Join(vals, ",") + "\n")
	}
	path := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"train", "--rows", path, "--runs", "2", "--workers", "1"}, &stdout, &stderr)
	if code == 0 || strings.Contains(stderr.String(), "differs from run 1") {
		t.Errorf("exit %d, stderr:\n%s\nwant a failed fit, the same in both runs", code, stderr.String())
	}
}
