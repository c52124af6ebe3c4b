// Package kafkatest gives tests a Kafka cluster of their own: franz-go's kfake, an in-process
// broker speaking the Kafka protocol on a free port of 127.0.0.1. Tests never touch a Kafka of the
// machine, so they pass on a clean clone and never see another run's records.
package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// readTimeout bounds reading a topic back; the records are in memory, so it takes milliseconds.
const readTimeout = 30 * time.Second

// Cluster is a running in-process Kafka cluster of one broker.
type Cluster struct {
	// Addr is the broker's host:port, for a kafka:// URL.
	Addr string
	// Fake is the cluster itself, for tests that make the broker misbehave (ControlKey).
	Fake *kfake.Cluster
}

// Start starts a cluster holding the given topics, each of one partition, and closes it when the
// test ends.
func Start(t testing.TB, topics ...string) *Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatalf("kafkatest: start the cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Addr: c.ListenAddrs()[0], Fake: c}
}

// Records returns every record of the topic's one partition, oldest first: what a test reads to
// count the copies of an event.
func (c *Cluster) Records(t testing.TB, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()},
	}))
	if err != nil {
		t.Fatalf("kafkatest: client: %v", err)
	}
	defer cl.Close()
	end := c.endOffset(ctx, t, cl, topic)
	var got []*kgo.Record
	for int64(len(got)) < end {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("kafkatest: read %d of the %d records of %s: %v", len(got), end, topic, err)
		}
		fetches.EachError(func(_ string, _ int32, err error) { t.Fatalf("kafkatest: fetch %s: %v", topic, err) })
		got = append(got, fetches.Records()...)
	}
	return got
}

// endOffset is the offset the topic's next record will have: the number of records it holds.
func (c *Cluster) endOffset(ctx context.Context, t testing.TB, cl *kgo.Client, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = 0
	rp.Timestamp = -1 // the latest offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("kafkatest: list the offsets of %s: %v", topic, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("kafkatest: list the offsets of %s: %+v", topic, resp)
	}
	return resp.Topics[0].Partitions[0].Offset
}
