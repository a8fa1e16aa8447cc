package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/sample"
	"github.com/kmtrain/knowledgemodel/score"
	"github.com/kmtrain/knowledgemodel/trainer"
)

// setting is one row of the table that chose the default preset: kmtrain's
// flags, and what they do to the options.
type setting struct {
	flags string
	apply func(o *pipeline.Options)
}

func khan(f func(o *pipeline.Options)) func(o *pipeline.Options) {
	return func(o *pipeline.Options) {
		*o = must(pipeline.Preset(pipeline.PresetKhan2014))
		if f != nil {
			f(o)
		}
	}
}

func must(o pipeline.Options, err error) pipeline.Options {
	if err != nil {
		panic(err)
	}
	return o
}

func auto(o *pipeline.Options) { o.Window, o.AutoL2 = features.AllProblems, trainer.DefaultAutoL2() }

// qualitySettings are the rows, each kmtrain's flags and their effect.
var qualitySettings = []setting{
	{"`--preset=khan2014`", khan(nil)},
	{"`--preset=khan2014 --problem_numbers=all`", khan(func(o *pipeline.Options) { o.Window = features.AllProblems })},
	{"... `--l2=auto`", khan(auto)},
	{"... `--l2=auto --component_key=exercise,correct`", khan(func(o *pipeline.Options) { auto(o); o.Keying = features.KeyByExercise })},
	{"... `--l2=auto --l2_knowledge=best --component_key=exercise,correct`", khan(func(o *pipeline.Options) {
		auto(o)
		o.Keying, o.AutoL2.TailBest = features.KeyByExercise, true
	})},
	{"`--problem_numbers=1-5` (default otherwise)", func(o *pipeline.Options) { o.Window = features.DefaultWindow }},
	{"`--component_key=exercise,problem_type,correct`", func(o *pipeline.Options) { o.Keying = features.KeyByProblemType }},
	{"`--l2_knowledge=one_se`", func(o *pipeline.Options) { o.AutoL2.TailBest = false }},
	{"(none: `default`)", func(*pipeline.Options) {}},
	{"`--preset=best` (`--l2_extended=best`)", func(o *pipeline.Options) { *o = must(pipeline.Preset(pipeline.PresetBest)) }},
}

// runQuality trains with each setting on the embedded sample (its held-out
// students) and on the ASSISTments split (train, evaluated on test), and
// prints the README's table of them as Markdown.
func runQuality(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kmbench quality", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("assistments", "../shared/data/assistments09", "directory of the ASSISTments split (train.csv, test.csv)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, f := range []string{"train.csv", "test.csv"} {
		if _, err := os.Stat(filepath.Join(*dir, f)); err != nil {
			return fmt.Errorf("--assistments: %v", err)
		}
	}
	tmp, err := os.MkdirTemp("", "kmbench-quality-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintln(stdout, "| flags | sample: model | sample: 6 features | ASSISTments: model | ASSISTments: 6 features | ASSISTments, first attempts: model / 6 features | ASSISTments s |")
	fmt.Fprintln(stdout, "| --- | --- | --- | --- | --- | --- | --- |")
	for i, st := range qualitySettings {
		var cells []string
		for _, data := range []string{"sample", "assistments"} {
			o := must(pipeline.Preset(pipeline.PresetDefault))
			st.apply(&o)
			o.Output, o.Version = filepath.Join(tmp, fmt.Sprintf("%d-%s", i, data)), "quality"
			o.Input = sample.ProblemLogs
			if data == "assistments" {
				o.Input, o.EvalInput = filepath.Join(*dir, "train.csv"), filepath.Join(*dir, "test.csv")
			}
			sum, secs, err := trainAndRead(o)
			if err != nil {
				return fmt.Errorf("%s on %s: %v", st.flags, data, err)
			}
			ev := sum.Evaluation
			base := ev.Baselines[score.BaselineNoKnowledge]
			cells = append(cells, pair(ev.Overall), pair(base.Overall))
			if data == "assistments" {
				first := "- / -"
				if len(ev.Segments) > 0 {
					first = fmt.Sprintf("%s / %s", num4(ev.Segments[0].AUC), num4(ev.Segments[0].Baselines[score.BaselineNoKnowledge].AUC))
				}
				cells = append(cells, first, fmt.Sprintf("%.1f", secs))
			}
		}
		fmt.Fprintf(stdout, "| %s | %s | %s | %s | %s | %s | %s |\n", st.flags, cells[0], cells[1], cells[2], cells[3], cells[4], cells[5])
	}
	return nil
}

// trainAndRead runs the training pipeline on prism and reads its summary.
func trainAndRead(o pipeline.Options) (model.Summary, float64, error) {
	var sum model.Summary
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.Build(s, o); err != nil {
		return sum, 0, err
	}
	start := time.Now()
	if _, err := beam.Run(context.Background(), "prism", p); err != nil {
		return sum, 0, err
	}
	secs := time.Since(start).Seconds()
	b, err := os.ReadFile(filepath.Join(o.Output, model.SummaryFile))
	if err != nil {
		return sum, 0, err
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		return sum, 0, err
	}
	if sum.Evaluation == nil {
		return sum, 0, fmt.Errorf("no evaluation in %s", o.Output)
	}
	return sum, secs, nil
}

func pair(m evaluate.Metrics) string { return num4(m.AUC) + " / " + num4(m.LogLikelihood) }

func num4(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.4f", *p)
}
