package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// One Opus frame every 20 ms, as a browser sends voice.
const frameInterval = 20 * time.Millisecond

var opus = webrtc.RTPCodecCapability{
	MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
}

// Latencies are kept in 0.1 ms buckets up to 2 s (later ones count in the last bucket).
const latencyBuckets = 20000

type loadReport struct {
	Participants    int      `json:"participants"`
	Joined          int      `json:"joined"`
	Publishing      int      `json:"publishing"`
	Tracks          int      `json:"tracks"`
	Seconds         float64  `json:"seconds"`
	SentPackets     uint64   `json:"sent_packets"`
	ReceivedPackets uint64   `json:"received_packets"`
	ExpectedPackets uint64   `json:"expected_packets"`
	P50Ms           float64  `json:"p50_ms"`
	P99Ms           float64  `json:"p99_ms"`
	MaxMs           float64  `json:"max_ms"`
	Errors          []string `json:"errors,omitempty"`
}

// trackCounter follows one received track's sequence numbers while the window is open.
type trackCounter struct {
	sync.Mutex
	seen                    bool
	last                    uint16
	first, highest, current int64
	received                uint64
}

func (c *trackCounter) count(sequence uint16) {
	c.Lock()
	defer c.Unlock()
	if !c.seen {
		c.seen, c.current = true, int64(sequence)
		c.first, c.highest = c.current, c.current
	} else {
		// Unwraps the 16-bit sequence: the step from the last one, signed.
		c.current += int64(int16(sequence - c.last))
		c.highest = max(c.highest, c.current)
	}
	c.last = sequence
	c.received++
}

type load struct {
	measuring atomic.Bool
	finished  atomic.Bool
	sent      atomic.Uint64
	latency   [latencyBuckets]atomic.Uint64
	mutex     sync.Mutex
	counters  []*trackCounter
	errors    map[string]int
	players   []*participant
}

func loadCommand(arguments []string) loadReport {
	flags := flag.NewFlagSet("load", flag.ExitOnError)
	measure := flags.Duration("measure", 20*time.Second, "how long to measure once everyone is in")
	settle := flags.Duration("settle", 90*time.Second, "longest wait for everyone to join and subscribe")
	tracks := flags.Int("tracks", 0, "subscribed tracks to wait for before measuring (0: wait for publishing only)")
	payload := flags.Int("payload", 80, "bytes per audio frame (80 ≈ 32 kbit/s voice)")
	_ = flags.Parse(arguments)
	if flags.NArg() != 1 || *payload < 9 {
		usage()
	}
	var tokens []string
	lines := bufio.NewScanner(os.Stdin)
	lines.Buffer(make([]byte, 64*1024), 64*1024)
	for lines.Scan() {
		if token := strings.TrimSpace(lines.Text()); token != "" {
			tokens = append(tokens, token)
		}
	}
	settings := webrtc.SettingEngine{}
	settings.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	settings.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api, err := generatorAPI(settings)
	if err != nil {
		return loadReport{Errors: []string{err.Error()}}
	}

	l := &load{errors: map[string]int{}}
	for index, token := range tokens {
		go l.join(api, flags.Arg(0), token, fmt.Sprintf("voice-%d", index), *payload)
		time.Sleep(10 * time.Millisecond)
	}
	deadline := time.Now().Add(*settle)
	for time.Now().Before(deadline) && (l.publishing() < len(tokens) || l.trackCount() < *tracks) {
		time.Sleep(250 * time.Millisecond)
	}
	// Subscriptions settle a moment after the last track appears.
	time.Sleep(2 * time.Second)
	// Marks the window for whoever reads the server's CPU alongside.
	fmt.Println("measuring")
	l.measuring.Store(true)
	started := time.Now()
	time.Sleep(*measure)
	l.measuring.Store(false)
	l.finished.Store(true)
	fmt.Println("measured")
	report := l.report(len(tokens), time.Since(started))
	for _, player := range l.playersSnapshot() {
		player.leave()
	}
	return report
}

// generatorAPI offers Opus only and keeps what a browser's receiver sends back (NACKs, receiver
// reports, transport-wide congestion control feedback) but not pion's stats interceptor, which would
// cost the generator more than the server.
func generatorAPI(settings webrtc.SettingEngine) (*webrtc.API, error) {
	codecs := &webrtc.MediaEngine{}
	if err := codecs.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: opus},
		webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	registry := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(codecs, registry); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(registry); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureTWCCSender(codecs, registry); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(codecs), webrtc.WithInterceptorRegistry(registry),
		webrtc.WithSettingEngine(settings)), nil
}

func (l *load) fail(reason string) {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	l.errors[reason]++
}

func (l *load) join(api *webrtc.API, server, token, trackID string, payload int) {
	conn, err := dial(server, token)
	if err != nil {
		l.fail("signaling: " + err.Error())
		return
	}
	track, err := webrtc.NewTrackLocalStaticSample(opus, trackID, trackID)
	if err != nil {
		l.fail("track: " + err.Error())
		return
	}
	p := &participant{conn: conn, api: api, policy: webrtc.ICETransportPolicyAll, track: track,
		publishing: make(chan struct{}), onTrack: l.receive}
	l.mutex.Lock()
	l.players = append(l.players, p)
	l.mutex.Unlock()
	go l.speak(p, payload)
	if reason := p.serve(); !l.finished.Load() {
		l.fail(reason)
	}
}

// speak sends a frame every 20 ms once the publisher is connected; the frame carries its send time.
func (l *load) speak(p *participant, size int) {
	<-p.publishing
	ticker := time.NewTicker(frameInterval)
	defer ticker.Stop()
	for range ticker.C {
		frame := make([]byte, size)
		frame[0] = 0xf8 // Opus TOC: CELT fullband 20 ms, mono, one frame
		binary.BigEndian.PutUint64(frame[1:9], uint64(time.Now().UnixNano()))
		if p.track.WriteSample(media.Sample{Data: frame, Duration: frameInterval}) != nil {
			return
		}
		if l.measuring.Load() {
			l.sent.Add(1)
		}
	}
}

func (l *load) receive(track *webrtc.TrackRemote) {
	if track.Kind() != webrtc.RTPCodecTypeAudio {
		return
	}
	counter := &trackCounter{}
	l.mutex.Lock()
	l.counters = append(l.counters, counter)
	l.mutex.Unlock()
	// One buffer and one packet per track: at tens of thousands of packets a second, ReadRTP's
	// allocation per packet would load the generator's core more than the server's.
	buffer, packet := make([]byte, 1500), &rtp.Packet{}
	for {
		size, _, err := track.Read(buffer)
		if err != nil {
			return
		}
		if !l.measuring.Load() || packet.Unmarshal(buffer[:size]) != nil || len(packet.Payload) < 9 {
			continue
		}
		counter.count(packet.SequenceNumber)
		sent := int64(binary.BigEndian.Uint64(packet.Payload[1:9]))
		bucket := min(max(time.Now().UnixNano()-sent, 0)/int64(100*time.Microsecond), latencyBuckets-1)
		l.latency[bucket].Add(1)
	}
}

func (l *load) publishing() int {
	count := 0
	for _, player := range l.playersSnapshot() {
		select {
		case <-player.publishing:
			count++
		default:
		}
	}
	return count
}

func (l *load) trackCount() int {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	return len(l.counters)
}

func (l *load) playersSnapshot() []*participant {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	return append([]*participant(nil), l.players...)
}

func (l *load) report(participants int, elapsed time.Duration) loadReport {
	report := loadReport{Participants: participants, Joined: len(l.playersSnapshot()), Publishing: l.publishing(),
		Seconds: elapsed.Seconds(), SentPackets: l.sent.Load()}
	l.mutex.Lock()
	for _, counter := range l.counters {
		counter.Lock()
		if counter.seen {
			report.Tracks++
			report.ReceivedPackets += counter.received
			report.ExpectedPackets += uint64(counter.highest - counter.first + 1)
		}
		counter.Unlock()
	}
	for reason, times := range l.errors {
		report.Errors = append(report.Errors, fmt.Sprintf("%d× %s", times, reason))
	}
	l.mutex.Unlock()
	sort.Strings(report.Errors)
	report.P50Ms, report.P99Ms, report.MaxMs = l.percentiles()
	return report
}

func (l *load) percentiles() (float64, float64, float64) {
	var total uint64
	counts := make([]uint64, latencyBuckets)
	for bucket := range counts {
		counts[bucket] = l.latency[bucket].Load()
		total += counts[bucket]
	}
	if total == 0 {
		return 0, 0, 0
	}
	at := func(fraction float64) float64 {
		var seen uint64
		for bucket, count := range counts {
			seen += count
			if float64(seen) >= fraction*float64(total) {
				return float64(bucket+1) / 10
			}
		}
		return float64(latencyBuckets) / 10
	}
	return at(0.5), at(0.99), at(1)
}
