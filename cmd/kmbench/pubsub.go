package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/kmtrain/knowledgemodel/internal/psemulator"
	"github.com/kmtrain/knowledgemodel/pubsublogs"
)

// runPubSubBench measures the streaming pipeline's source alone: it
// publishes synthetic logs to the Pub/Sub emulator, then pulls and
// acknowledges them as the pulled read does (one reader, unary Pull of up
// to 1,000 messages, Acknowledge), with nothing else running. Its figures
// are the ceiling the emulator puts on kmbench stream.
func runPubSubBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kmbench pubsub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	logs := fs.Int64("logs", 100000, "number of synthetic ProblemLogs to publish and pull")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kmbench-pubsub-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ls, err := liveLogs(filepath.Join(dir, "logs.csv"), *logs)
	if err != nil {
		return err
	}
	ctx := context.Background()
	name := fmt.Sprintf("kmbench-pubsub-%d", time.Now().UnixNano())
	c, closeEmulator, err := emulatorSubscription(ctx, name)
	if err != nil {
		return err
	}
	defer closeEmulator()

	began := time.Now()
	if _, err := pubsublogs.Publish(ctx, c, pubsublogs.TopicName(psemulator.Project, name), ls,
		pubsublogs.PublishOptions{IDPrefix: "b"}); err != nil {
		return err
	}
	publish := time.Since(began).Seconds()

	sub := pubsublogs.SubscriptionName(psemulator.Project, name)
	began = time.Now()
	pulled, pulls := 0, 0
	for pulled < len(ls) {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := c.SubscriptionAdminClient.Pull(pctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 1000})
		cancel()
		if err != nil {
			return fmt.Errorf("pulling after %d of %d messages: %v", pulled, len(ls), err)
		}
		ids := make([]string, len(resp.ReceivedMessages))
		for i, rm := range resp.ReceivedMessages {
			ids[i] = rm.AckId
		}
		if len(ids) > 0 {
			if err := c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: ids}); err != nil {
				return err
			}
		}
		pulled += len(ids)
		pulls++
	}
	pull := time.Since(began).Seconds()
	fmt.Fprintf(stdout, "pubsub logs=%d publish_s=%.2f publish_logs_per_s=%.0f pull_s=%.2f pull_logs_per_s=%.0f messages_per_pull=%.0f\n",
		len(ls), publish, float64(len(ls))/publish, pull, float64(pulled)/pull, float64(pulled)/float64(pulls))
	return nil
}
