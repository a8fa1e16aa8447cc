package errline

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// Errors as the runners return them (Beam 2.77), from the runs of
// TestPipelineErrors and of kmtrain with a header that lacks a column.
const (
	prismDoFn = "pipeline failed (nothing was written to /tmp/inp/out): job job-001 failed:\n" +
		"bundle inst004 stage-007 failed:process bundle failed for instruction inst004 using plan stage-007 : " +
		"while executing Process for Plan[stage-007]:\n" +
		"1: DataSource[S[stage-007_source@localhost:35779], i0] Out:6 Coder:W;cwv_n2<transforms.FileShard[transforms.FileShard;c6];c7>!GWC \n" +
		"6: ParDo[transforms.readShardFn] Out:[2 4] Sig: func(context.Context, transforms.FileShard, func(string, transforms.LogBatch), func(transforms.Stats)) error, SideInputs: []\n" +
		"5: PCollection[n6] Out:[4]\n" +
		"4: DataSink[S[e4_i1@localhost:35779]] Coder:W;cwv_n6<transforms.Stats[transforms.Stats;c0];c1>!GWC\n" +
		"3: PCollection[n5] Out:[2]\n" +
		"2: DataSink[S[e4_i0@localhost:35779]] Coder:W;cwv_n5<KV;c16<string;c13,transforms.LogBatch[transforms.LogBatch;c14];c15>>!GWC\n" +
		"\tcaused by:\nsource failed processing data\n\tcaused by:\n" +
		"DoFn[UID:6, PID:e4, Name: github.com/kmtrain/knowledgemodel/transforms.readShardFn] failed:\n" +
		`input /tmp/inp/bad.csv: header "user,time_done,exercise" has no column "problem_type"`
	prismPanic = "job job-002 failed:\n" +
		"bundle inst001 stage-001 failed:process bundle failed for instruction inst001 using plan stage-001 : panic: boom \x01 1\n" +
		"Full error:\nwhile executing Process for Plan[stage-001]:\n" +
		"1: DataSource[S[stage-001_source@localhost:45009], i0] Out:4 Coder:W;cwv_n1<bytes;c0>!GWC \n" +
		"4: ParDo[beam.createFn] Out:[3] Sig: func([]uint8, func(typex.T)) error, SideInputs: []\n" +
		"3: PCollection[n2] Out:[2]\n" +
		"2: ParDo[errline_test.failFn] Out:[] Sig: func(int) error, SideInputs: []\n" +
		"\tcaused by:\npanic: boom \x01 1 goroutine 266 [running]:\nruntime/debug.Stack()\n" +
		"\t/usr/local/go/src/runtime/debug/stack.go:26 +0x5e\n" +
		"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/exec.callNoPanic.func1()\n"
	directDoFn = "while executing Process for Plan[plan]:\n" +
		"2: ParDo[beam.createFn] Out:[1] Sig: func([]uint8, func(typex.T)) error, SideInputs: []\n" +
		"1: ParDo[errline_test.failFn] Out:[] Sig: func(int) error, SideInputs: []\n3: Impulse[0]\n" +
		"\tcaused by:\nDoFn[UID:1, PID:errline_test.failFn, Name: github.com/kmtrain/knowledgemodel/internal/errline_test.failFn] failed:\n" +
		"bad \x01value é"
	directPanic = "panic: boom \x01 1\nFull error:\nwhile executing Process for Plan[plan]:\n" +
		"2: ParDo[beam.createFn] Out:[1] Sig: func([]uint8, func(typex.T)) error, SideInputs: []\n" +
		"\tcaused by:\npanic: boom \x01 1 goroutine 4 [running]:\nruntime/debug.Stack()\n"
	// A DoFn's error that could not reach prism (it held invalid UTF-8).
	prismLost = "job job-001 failed:\nbundle inst001 stage-001 failed:SDK worker disconnected: " +
		"worker[job-001[go-job-1-1796286833770765937]_go], 1 active instructions, error: context canceled"
)

func TestLine(t *testing.T) {
	long := strings.Repeat("x", 5<<20)
	tests := []struct {
		name string
		err  string
		want string
	}{
		{"plain", "--l2=\"lots\": want a number or auto", `--l2="lots": want a number or auto`},
		{"prism DoFn", prismDoFn, `pipeline failed (nothing was written to /tmp/inp/out): input /tmp/inp/bad.csv: header "user,time_done,exercise" has no column "problem_type"`},
		{"prism DoFn, a frame quoted from the input", strings.Replace(prismDoFn, `"user,time_done,exercise"`, `"user,DoFn[UID:1] failed: x"`, 1),
			`pipeline failed (nothing was written to /tmp/inp/out): input /tmp/inp/bad.csv: header "user,DoFn[UID:1] failed: x" has no column "problem_type"`},
		{"prism panic", prismPanic, `panic: boom \x01 1`},
		{"direct DoFn", directDoFn, `bad \x01value é`},
		{"direct panic", directPanic, `panic: boom \x01 1`},
		{"prism lost", prismLost, "SDK worker disconnected: worker[job-001[go-job-1-1796286833770765937]_go], 1 active instructions, error: context canceled"},
		{"wrapped DoFn", "pipeline failed: " + strings.Replace(directDoFn, "bad \x01value é", "components x.jsonl: open\n\tcaused by:\nno such file", 1),
			"pipeline failed: components x.jsonl: open: no such file"},
		{"binary", "read \x00\xff\xfe\u200b done", `read \x00\xff\xfe\u200b done`},
		{"lines", "first\nsecond:\n\tthird\n", "first; second: third"},
		{"joined", errors.Join(errors.New("a"), errors.New("b")).Error(), "a; b"},
		{"long quoted value", fmt.Sprintf("header %q has no column %q", "user,"+long, "problem_type"),
			`header "user,` + strings.Repeat("x", MaxQuoted-5) + `…" has no column "problem_type"`},
		{"long quoted escapes", fmt.Sprintf("bad %q", strings.Repeat("\x00", 40)),
			`bad "` + strings.Repeat(`\x00`, MaxQuoted/4) + `…"`},
		{"long", long, strings.Repeat("x", MaxBytes-len(Ellipsis)) + Ellipsis},
		{"long unicode", strings.Repeat("é", MaxBytes), strings.Repeat("é", (MaxBytes-len(Ellipsis))/2) + Ellipsis},
		{"unterminated quotes", `a "b \"` + strings.Repeat(`\"`, 1<<20), `a "b \"` + strings.Repeat(`\"`, (MaxBytes-len(`a "b \"`)-len(Ellipsis))/2) + Ellipsis},
		{"not a Go literal", `say "hi\q" to "me"`, `say "hi\q" to "me"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Line(errors.New(tt.err))
			if got != tt.want {
				t.Errorf("Line(%.300q)\n = %q\nwant %q", tt.err, got, tt.want)
			}
			if strings.ContainsAny(got, "\n\r\t") || !utf8.ValidString(got) || len(got) > MaxBytes {
				t.Errorf("Line = %q: not one valid line of at most %d bytes", got, MaxBytes)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", `""`},
		{"a\x00b", `"a\x00b"`},
		{strings.Repeat("a", MaxQuoted), `"` + strings.Repeat("a", MaxQuoted) + `"`},
		{strings.Repeat("a", 5<<20), `"` + strings.Repeat("a", MaxQuoted) + `…"`},
		{strings.Repeat("a", MaxQuoted-1) + "é", `"` + strings.Repeat("a", MaxQuoted-1) + `…"`},
		{strings.Repeat("\x0e", 75), `"` + strings.Repeat(`\x0e`, MaxQuoted/4) + `…"`}, // found by FuzzCSV
		{strings.Repeat("\x0e", 25), `"` + strings.Repeat(`\x0e`, 25) + `"`},
		{"a\x00" + strings.Repeat("b", 2*MaxQuoted), `"a\x00` + strings.Repeat("b", MaxQuoted-5) + `…"`},
	} {
		if got := Quote(tt.in); got != tt.want || len(got) > MaxQuoted+2+len(Ellipsis) {
			t.Errorf("Quote(%.80q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPrint(t *testing.T) {
	for _, tt := range []struct {
		debug, err string
		want       string
	}{
		{"", "no --history", "kmx: no --history\n"},
		{"", directDoFn, "kmx: bad \\x01value é (KMTRAIN_DEBUG=1 prints the full error)\n"},
		{"0", directDoFn, "kmx: bad \\x01value é (KMTRAIN_DEBUG=1 prints the full error)\n"},
		{"1", directDoFn, "kmx: bad \\x01value é\nkmx: the full error:\n" + directDoFn + "\n"},
	} {
		t.Setenv(EnvDebug, tt.debug)
		var b bytes.Buffer
		Print(&b, "kmx", errors.New(tt.err))
		if b.String() != tt.want {
			t.Errorf("%s=%s: Print wrote %q, want %q", EnvDebug, tt.debug, b.String(), tt.want)
		}
	}
}
