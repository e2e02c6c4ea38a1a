// One benchmark run of franz-go (github.com/twmb/franz-go/pkg/kgo), with the same arguments and
// the same one-line JSON report as benches/src/bin/bench-consumer.rs:
//
//	bench-franz franz MODE key=value...
//
// MODE is bulk, latency, rebalance or scale; the keys are those of bench-consumer.
// scripts/bench-compare.sh builds this with `go build`; it is benchmark code, not part of kafkit.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const lowLatencyFetchWait = 10 * time.Millisecond

type latency struct {
	Count  uint64 `json:"count"`
	P50Us  uint64 `json:"p50_us"`
	P99Us  uint64 `json:"p99_us"`
	P999Us uint64 `json:"p999_us"`
	MaxUs  uint64 `json:"max_us"`
}

type timeline struct {
	Topic     string      `json:"topic"`
	Partition int32       `json:"partition"`
	Records   uint64      `json:"records"`
	Intervals [][2]uint64 `json:"intervals"`
}

type report struct {
	Client               string      `json:"client"`
	Records              uint64      `json:"records"`
	ValueBytes           uint64      `json:"value_bytes"`
	Seconds              float64     `json:"seconds"`
	FirstRecordSeconds   float64     `json:"first_record_seconds"`
	CPUUser              float64     `json:"cpu_user"`
	CPUSys               float64     `json:"cpu_sys"`
	MaxRSSBytes          uint64      `json:"max_rss_bytes"`
	Latency              *latency    `json:"latency,omitempty"`
	Partitions           []*timeline `json:"partitions,omitempty"`
	AllPartitionsSeconds *float64    `json:"all_partitions_seconds,omitempty"`
	IdleCPUSeconds       *float64    `json:"idle_cpu_seconds,omitempty"`
	IdleSeconds          *float64    `json:"idle_seconds,omitempty"`
	RSSBytes             *uint64     `json:"rss_bytes,omitempty"`
}

type tp struct {
	topic     string
	partition int32
}

type run struct {
	client, mode string
	kv           map[string]string
	created      time.Time
	first, last  time.Time
	count        uint64
	valueBytes   uint64
	target       uint64
	finished     bool

	measureFromUs uint64
	delays        []uint64
	timelines     map[tp]*timeline
	seen          map[tp]struct{}
	expected      int
	allAt         time.Time
}

func (r *run) num(key string, dflt uint64) uint64 {
	v, ok := r.kv[key]
	if !ok {
		return dflt
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		fail(fmt.Errorf("%s=%s is not a number", key, v))
	}
	return n
}

func nowUs() uint64 { return uint64(time.Now().UnixMicro()) }

func (r *run) record(topic string, partition int32, value []byte) bool {
	now := time.Now()
	if r.first.IsZero() {
		r.first = now
	}
	r.count++
	r.valueBytes += uint64(len(value))
	switch r.mode {
	case "bulk":
		if r.count == r.target {
			r.last = now
			r.finished = true
		}
	case "latency":
		us := nowUs()
		if r.measureFromUs == 0 {
			r.measureFromUs = us + r.num("warmup_ms", 2000)*1000
		}
		if us >= r.measureFromUs && len(value) >= 8 {
			created := binary.BigEndian.Uint64(value[:8])
			if us > created {
				r.delays = append(r.delays, us-created)
			} else {
				r.delays = append(r.delays, 0)
			}
		}
	case "rebalance":
		us := nowUs()
		gap := r.num("gap_ms", 10) * 1000
		key := tp{topic, partition}
		t := r.timelines[key]
		if t == nil {
			t = &timeline{Topic: topic, Partition: partition}
			r.timelines[key] = t
		}
		t.Records++
		if n := len(t.Intervals); n > 0 && us <= t.Intervals[n-1][1]+gap {
			t.Intervals[n-1][1] = us
		} else {
			t.Intervals = append(t.Intervals, [2]uint64{us, us})
		}
	case "scale":
		if r.allAt.IsZero() {
			r.seen[tp{topic, partition}] = struct{}{}
			if len(r.seen) >= r.expected {
				r.allAt = now
			}
		}
	}
	return r.finished
}

func (r *run) options() []kgo.Opt {
	profile := r.kv["settings"]
	if profile == "" {
		if r.mode == "bulk" {
			profile = "throughput"
		} else {
			profile = "default"
		}
	}
	group := r.kv["group"]
	if group == "" {
		group = fmt.Sprintf("bench-franz-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	reset := kgo.NewOffset().AtEnd()
	if r.mode == "bulk" || r.mode == "scale" {
		reset = kgo.NewOffset().AtStart()
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(r.kv["bootstrap"], ",")...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(strings.Split(r.kv["topics"], ",")...),
		kgo.ConsumeResetOffset(reset),
		kgo.SessionTimeout(6 * time.Second),
	}
	if r.mode == "rebalance" {
		opts = append(opts, kgo.HeartbeatInterval(time.Second))
	}
	switch r.kv["protocol"] {
	case "":
	case "eager":
		opts = append(opts, kgo.Balancers(kgo.RangeBalancer()))
	case "cooperative":
		opts = append(opts, kgo.Balancers(kgo.CooperativeStickyBalancer()))
	case "consumer":
		opts = append(opts, kgo.Balancers(kgo.RangeBalancer()), kgo.ServerSideBalancer())
	default:
		fail(fmt.Errorf("unknown protocol %q", r.kv["protocol"]))
	}
	switch profile {
	case "throughput":
		opts = append(opts,
			kgo.FetchMaxBytes(64<<20),
			kgo.FetchMaxPartitionBytes(4<<20),
			kgo.FetchMaxWait(100*time.Millisecond))
	case "lowlat":
		opts = append(opts, kgo.FetchMinBytes(1), kgo.FetchMaxWait(lowLatencyFetchWait))
	case "default":
	default:
		fail(fmt.Errorf("unknown settings %q", profile))
	}
	return opts
}

func usage() (user, sys float64, maxRSS uint64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail(err)
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime), tv(ru.Stime), uint64(ru.Maxrss) * 1024
}

func currentRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "Error: %v\n", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		fail(errors.New("usage: bench-franz franz MODE key=value..."))
	}
	r := &run{client: os.Args[1], mode: os.Args[2], kv: map[string]string{}, created: time.Now(),
		timelines: map[tp]*timeline{}, seen: map[tp]struct{}{}}
	for _, a := range os.Args[3:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			fail(fmt.Errorf("%q is not key=value", a))
		}
		r.kv[k] = v
	}
	switch r.mode {
	case "bulk":
		r.target = r.num("records", 0)
	case "latency", "rebalance", "scale":
		r.target = ^uint64(0)
	default:
		fail(fmt.Errorf("unknown mode %q", r.mode))
	}
	r.expected = len(strings.Split(r.kv["topics"], ",")) * int(r.num("partitions", 8))

	cl, err := kgo.NewClient(r.options()...)
	if err != nil {
		fail(err)
	}
	timeout := time.Duration(r.num("timeout_ms", 300000)) * time.Millisecond
	untilUs := r.num("until_ms", 0) * 1000
	window := time.Duration(r.num("warmup_ms", 2000)+r.num("duration_ms", 10000)) * time.Millisecond
	idle := time.Duration(r.num("idle_ms", 10000)) * time.Millisecond
	var idleStart time.Time
	var idleCPU0 float64
	var idleResult [3]float64
	haveIdle := false
loop:
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		fetches := cl.PollFetches(ctx)
		cancel()
		if fetches.IsClientClosed() {
			fail(errors.New("client closed"))
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(os.Stderr, "fetch error %s[%d]: %v\n", t, p, err)
			}
		})
		done := false
		fetches.EachRecord(func(rec *kgo.Record) {
			if !done && r.record(rec.Topic, rec.Partition, rec.Value) {
				done = true
			}
		})
		if done {
			break
		}
		if time.Since(r.created) > timeout {
			fail(fmt.Errorf("timed out after %v", timeout))
		}
		switch r.mode {
		case "latency":
			if !r.first.IsZero() && time.Since(r.first) >= window {
				break loop
			}
		case "rebalance":
			if nowUs() >= untilUs {
				break loop
			}
		case "scale":
			if !r.allAt.IsZero() {
				u, s, _ := usage()
				if idleStart.IsZero() {
					idleStart, idleCPU0 = time.Now(), u+s
				} else if time.Since(idleStart) >= idle {
					idleResult = [3]float64{u + s - idleCPU0, time.Since(idleStart).Seconds(), float64(currentRSS())}
					haveIdle = true
					break loop
				}
			}
		}
	}
	end := time.Now()
	if r.first.IsZero() {
		fail(errors.New("no record was delivered"))
	}
	last := r.last
	if last.IsZero() {
		last = end
	}
	user, sys, maxRSS := usage()
	rep := report{Client: r.client, Records: r.count, ValueBytes: r.valueBytes,
		Seconds: last.Sub(r.first).Seconds(), FirstRecordSeconds: r.first.Sub(r.created).Seconds(),
		CPUUser: user, CPUSys: sys, MaxRSSBytes: maxRSS}
	switch r.mode {
	case "latency":
		if n := len(r.delays); n > 0 {
			sort.Slice(r.delays, func(i, j int) bool { return r.delays[i] < r.delays[j] })
			at := func(q float64) uint64 {
				i := int(q*float64(n) + 0.999999999)
				if i < 1 {
					i = 1
				}
				if i > n {
					i = n
				}
				return r.delays[i-1]
			}
			rep.Latency = &latency{uint64(n), at(0.5), at(0.99), at(0.999), r.delays[n-1]}
		}
	case "rebalance":
		rep.Partitions = []*timeline{}
		for _, t := range r.timelines {
			rep.Partitions = append(rep.Partitions, t)
		}
	case "scale":
		if !r.allAt.IsZero() {
			s := r.allAt.Sub(r.created).Seconds()
			rep.AllPartitionsSeconds = &s
		}
		if haveIdle {
			rss := uint64(idleResult[2])
			rep.IdleCPUSeconds, rep.IdleSeconds, rep.RSSBytes = &idleResult[0], &idleResult[1], &rss
		}
	}
	line, err := json.Marshal(rep)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(line))
	// As the Rust peers do: no graceful close (it is not measured).
	os.Exit(0)
}
