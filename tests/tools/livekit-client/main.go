// A LiveKit client on pion/webrtc (the stack of LiveKit's Go SDK), in two uses:
//
//	livekit-client subscribe [-relay-only] [-packets N] [-timeout D] URL TOKEN
//	    joins a room and counts the RTP packets of the first audio track. Unlike libwebrtc's
//	    built-in roots, Go verifies TURN/TLS certificates against SSL_CERT_FILE, so a test CA can
//	    stand in for a public one. Prints one JSON line: ok, packets, and the selected pair's local
//	    candidate type and relay protocol.
//	livekit-client load [flags] URL < TOKENS
//	    a load generator: one participant per token line, each publishing an audio track and
//	    receiving everyone else's; prints `measuring` and `measured` around its measuring window,
//	    then one JSON line: packets sent, received and expected, delivery latency (see load.go).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

type subscription struct {
	OK            bool   `json:"ok"`
	Error         string `json:"error,omitempty"`
	Packets       int    `json:"packets"`
	CandidateType string `json:"candidateType,omitempty"`
	RelayProtocol string `json:"relayProtocol,omitempty"`
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var outcome any
	switch command, arguments := os.Args[1], os.Args[2:]; command {
	case "subscribe":
		outcome = subscribeCommand(arguments)
	case "load":
		outcome = loadCommand(arguments)
	default:
		usage()
	}
	line, _ := json.Marshal(outcome)
	fmt.Println(string(line))
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: livekit-client subscribe [-relay-only] [-packets N] [-timeout D] URL TOKEN\n"+
		"       livekit-client load [-measure D] [-settle D] [-tracks N] [-payload BYTES] URL < TOKENS")
	os.Exit(2)
}

func subscribeCommand(arguments []string) subscription {
	flags := flag.NewFlagSet("subscribe", flag.ExitOnError)
	relayOnly := flags.Bool("relay-only", false, "gather relay candidates only (TURN)")
	wanted := flags.Int("packets", 100, "RTP packets to receive")
	timeout := flags.Duration("timeout", 40*time.Second, "give up after")
	_ = flags.Parse(arguments)
	if flags.NArg() != 2 {
		usage()
	}
	policy := webrtc.ICETransportPolicyAll
	if *relayOnly {
		policy = webrtc.ICETransportPolicyRelay
	}
	return subscribe(flags.Arg(0), flags.Arg(1), policy, *wanted, *timeout)
}

func subscribe(server, token string, policy webrtc.ICETransportPolicy, wanted int, timeout time.Duration) subscription {
	conn, err := dial(server, token)
	if err != nil {
		return subscription{Error: "signaling: " + err.Error()}
	}
	var counted sync.Mutex
	packets := 0
	done := make(chan struct{})
	p := &participant{conn: conn, api: webrtc.NewAPI(), policy: policy}
	p.onTrack = func(track *webrtc.TrackRemote) {
		if track.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		for {
			packet, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			if len(packet.Payload) > 0 {
				counted.Lock()
				packets++
				if packets == wanted {
					close(done)
				}
				counted.Unlock()
			}
		}
	}
	failed := make(chan string, 1)
	go func() { failed <- p.serve() }()
	defer p.leave()

	select {
	case <-done:
		local, relay := selectedPair(p.subscriber)
		return subscription{OK: true, Packets: wanted, CandidateType: local, RelayProtocol: relay}
	case reason := <-failed:
		return subscription{Error: reason, Packets: packets}
	case <-time.After(timeout):
		counted.Lock()
		defer counted.Unlock()
		outcome := subscription{Error: fmt.Sprintf("%d of %d packets within %s", packets, wanted, timeout), Packets: packets}
		if p.subscriber != nil {
			outcome.CandidateType, outcome.RelayProtocol = selectedPair(p.subscriber)
			outcome.Error += " (ICE " + p.subscriber.ICEConnectionState().String() + ")"
		}
		return outcome
	}
}
