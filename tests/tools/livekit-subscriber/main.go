// A LiveKit subscriber on pion/webrtc (the stack of LiveKit's Go SDK): joins a room over the
// signaling WebSocket, answers the server's subscriber offer and counts the RTP packets of the
// first audio track. Unlike libwebrtc's built-in roots, Go verifies TURN/TLS certificates against
// SSL_CERT_FILE, so a test CA can stand in for a public one.
//
// Usage: livekit-subscriber [-relay-only] [-packets N] [-timeout D] URL TOKEN
// Prints one JSON line: ok, packets, and the selected pair's local candidate type and relay protocol.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"
)

type result struct {
	OK            bool   `json:"ok"`
	Error         string `json:"error,omitempty"`
	Packets       int    `json:"packets"`
	CandidateType string `json:"candidateType,omitempty"`
	RelayProtocol string `json:"relayProtocol,omitempty"`
}

type session struct {
	conn    *websocket.Conn
	writing sync.Mutex
}

func (s *session) send(request *livekit.SignalRequest) error {
	data, err := proto.Marshal(request)
	if err != nil {
		return err
	}
	s.writing.Lock()
	defer s.writing.Unlock()
	return s.conn.WriteMessage(websocket.BinaryMessage, data)
}

func main() {
	relayOnly := flag.Bool("relay-only", false, "gather relay candidates only (TURN)")
	wanted := flag.Int("packets", 100, "RTP packets to receive")
	timeout := flag.Duration("timeout", 40*time.Second, "give up after")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: livekit-subscriber [-relay-only] [-packets N] [-timeout D] URL TOKEN")
		os.Exit(2)
	}
	outcome := subscribe(flag.Arg(0), flag.Arg(1), *relayOnly, *wanted, *timeout)
	line, _ := json.Marshal(outcome)
	fmt.Println(string(line))
}

func subscribe(server, token string, relayOnly bool, wanted int, timeout time.Duration) result {
	address := strings.TrimSuffix(server, "/") + "/rtc?" + url.Values{
		"access_token": {token}, "protocol": {"15"}, "auto_subscribe": {"1"}, "sdk": {"go"},
	}.Encode()
	conn, _, err := websocket.DefaultDialer.Dial(address, nil)
	if err != nil {
		return result{Error: "signaling: " + err.Error()}
	}
	defer conn.Close()
	s := &session{conn: conn}

	var pc *webrtc.PeerConnection
	var counted sync.Mutex
	packets := 0
	done := make(chan struct{})
	failed := make(chan string, 4)
	deadline := time.After(timeout)
	var pending []webrtc.ICECandidateInit

	go func() {
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				failed <- "signaling closed: " + err.Error()
				return
			}
			response := &livekit.SignalResponse{}
			if err := proto.Unmarshal(data, response); err != nil {
				failed <- "bad signal message: " + err.Error()
				return
			}
			switch message := response.Message.(type) {
			case *livekit.SignalResponse_Join:
				pc, err = peerConnection(s, message.Join, relayOnly, func(n int) {
					counted.Lock()
					packets += n
					if packets == wanted {
						close(done)
					}
					counted.Unlock()
				})
				if err != nil {
					failed <- "peer connection: " + err.Error()
					return
				}
				go ping(s, message.Join.PingInterval)
			case *livekit.SignalResponse_Offer:
				if err := answer(s, pc, message.Offer); err != nil {
					failed <- "answer: " + err.Error()
					return
				}
				for _, candidate := range pending {
					_ = pc.AddICECandidate(candidate)
				}
				pending = nil
			case *livekit.SignalResponse_Trickle:
				if message.Trickle.Target != livekit.SignalTarget_SUBSCRIBER {
					continue
				}
				var candidate webrtc.ICECandidateInit
				if err := json.Unmarshal([]byte(message.Trickle.CandidateInit), &candidate); err != nil {
					continue
				}
				if pc == nil || pc.RemoteDescription() == nil {
					pending = append(pending, candidate)
				} else {
					_ = pc.AddICECandidate(candidate)
				}
			case *livekit.SignalResponse_Leave:
				failed <- "the server asked to leave"
				return
			}
		}
	}()

	select {
	case <-done:
		local, relay := selectedPair(pc)
		_ = s.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{}}})
		_ = pc.Close()
		return result{OK: true, Packets: wanted, CandidateType: local, RelayProtocol: relay}
	case reason := <-failed:
		return result{Error: reason, Packets: packets}
	case <-deadline:
		counted.Lock()
		defer counted.Unlock()
		outcome := result{Error: fmt.Sprintf("%d of %d packets within %s", packets, wanted, timeout), Packets: packets}
		if pc != nil {
			outcome.CandidateType, outcome.RelayProtocol = selectedPair(pc)
			outcome.Error += " (ICE " + pc.ICEConnectionState().String() + ")"
		}
		return outcome
	}
}

func peerConnection(s *session, join *livekit.JoinResponse, relayOnly bool, received func(int)) (*webrtc.PeerConnection, error) {
	config := webrtc.Configuration{}
	for _, server := range join.IceServers {
		config.ICEServers = append(config.ICEServers, webrtc.ICEServer{
			URLs: server.Urls, Username: server.Username, Credential: server.Credential,
		})
	}
	if relayOnly {
		config.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := webrtc.NewPeerConnection(config)
	if err != nil {
		return nil, err
	}
	pc.OnICECandidate(func(candidate *webrtc.ICECandidate) {
		if candidate == nil {
			return
		}
		init, _ := json.Marshal(candidate.ToJSON())
		_ = s.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{Trickle: &livekit.TrickleRequest{
			CandidateInit: string(init), Target: livekit.SignalTarget_SUBSCRIBER,
		}}})
	})
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if track.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		for {
			packet, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			if len(packet.Payload) > 0 {
				received(1)
			}
		}
	})
	return pc, nil
}

func answer(s *session, pc *webrtc.PeerConnection, offer *livekit.SessionDescription) error {
	if pc == nil {
		return fmt.Errorf("offer before join")
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.Sdp}); err != nil {
		return err
	}
	description, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(description); err != nil {
		return err
	}
	return s.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Answer{Answer: &livekit.SessionDescription{
		Type: "answer", Sdp: description.SDP, Id: offer.Id,
	}}})
}

func ping(s *session, intervalSeconds int32) {
	if intervalSeconds <= 0 {
		intervalSeconds = 5
	}
	for range time.Tick(time.Duration(intervalSeconds) * time.Second) {
		now := time.Now().UnixMilli()
		if s.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: now}}) != nil {
			return
		}
	}
}

// selectedPair names the local candidate of the nominated pair and, for a relay, how it reached TURN.
func selectedPair(pc *webrtc.PeerConnection) (string, string) {
	report := pc.GetStats()
	for _, stat := range report {
		pair, ok := stat.(webrtc.ICECandidatePairStats)
		if !ok || !pair.Nominated {
			continue
		}
		if local, ok := report[pair.LocalCandidateID].(webrtc.ICECandidateStats); ok {
			return local.CandidateType.String(), local.RelayProtocol
		}
	}
	return "", ""
}
