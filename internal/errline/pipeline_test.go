package errline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/kmtrain/knowledgemodel/internal/errline"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

// failFn fails as a DoFn of the pipeline does: with an error, or a panic.
func failFn(x int) error {
	if x == 1 {
		panic(fmt.Sprintf("index %d out of range \x01", x))
	}
	return fmt.Errorf("components %s: line %d: %q", "c.jsonl", x, "\x00bad")
}

func init() { register.Function1x1(failFn) }

// TestPipelineErrors runs pipelines whose DoFn fails on the runners kmtrain
// uses, and checks that the line of their error is the DoFn's.
func TestPipelineErrors(t *testing.T) {
	for _, runner := range []string{"prism", "direct"} {
		for x, want := range []string{
			`pipeline failed (nothing was written): components c.jsonl: line 0: "\x00bad"`,
			`pipeline failed (nothing was written): panic: index 1 out of range \x01`,
		} {
			t.Run(fmt.Sprintf("%s/%d", runner, x), func(t *testing.T) {
				p, s := beam.NewPipelineWithRoot()
				beam.ParDo0(s, failFn, beam.Create(s, x))
				_, err := beam.Run(context.Background(), runner, p)
				if err == nil {
					t.Fatal("the pipeline succeeded")
				}
				err = fmt.Errorf("pipeline failed (nothing was written): %w", err)
				if !strings.Contains(err.Error(), "\n") {
					t.Errorf("the runner's error is one line already: %q", err)
				}
				if got := errline.Line(err); got != want {
					t.Errorf("Line(%q)\n = %q\nwant %q", err, got, want)
				}
			})
		}
	}
	if errline.Line(errors.New("x")) != "x" {
		t.Error("Line changed a plain error")
	}
}
