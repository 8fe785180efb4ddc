package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"
)

// participant is one LiveKit participant: the signaling WebSocket, the subscriber peer connection
// the server offers, and, when it publishes, a publisher peer connection carrying one audio track.
type participant struct {
	conn    *websocket.Conn
	writing sync.Mutex
	api     *webrtc.API
	policy  webrtc.ICETransportPolicy
	onTrack func(*webrtc.TrackRemote)
	// nil: the participant only listens.
	track      *webrtc.TrackLocalStaticSample
	publishing chan struct{}
	connected  sync.Once

	// Touched only by the goroutine reading signals.
	subscriber, publisher         *webrtc.PeerConnection
	pendingSubscriber, pendingPub []webrtc.ICECandidateInit
}

func dial(server, token string) (*websocket.Conn, error) {
	address := strings.TrimSuffix(server, "/") + "/rtc?" + url.Values{
		"access_token": {token}, "protocol": {"15"}, "auto_subscribe": {"1"}, "sdk": {"go"},
	}.Encode()
	conn, _, err := websocket.DefaultDialer.Dial(address, nil)
	return conn, err
}

func (p *participant) send(request *livekit.SignalRequest) error {
	data, err := proto.Marshal(request)
	if err != nil {
		return err
	}
	p.writing.Lock()
	defer p.writing.Unlock()
	return p.conn.WriteMessage(websocket.BinaryMessage, data)
}

func (p *participant) leave() {
	_ = p.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{}}})
	for _, pc := range []*webrtc.PeerConnection{p.subscriber, p.publisher} {
		if pc != nil {
			_ = pc.Close()
		}
	}
	_ = p.conn.Close()
}

// serve answers the server's signals until the connection ends; it returns why it ended.
func (p *participant) serve() string {
	for {
		_, data, err := p.conn.ReadMessage()
		if err != nil {
			return "signaling closed: " + err.Error()
		}
		response := &livekit.SignalResponse{}
		if err := proto.Unmarshal(data, response); err != nil {
			return "bad signal message: " + err.Error()
		}
		if reason := p.handle(response); reason != "" {
			return reason
		}
	}
}

func (p *participant) handle(response *livekit.SignalResponse) string {
	var err error
	switch message := response.Message.(type) {
	case *livekit.SignalResponse_Join:
		if p.subscriber, err = p.peerConnection(message.Join, livekit.SignalTarget_SUBSCRIBER); err != nil {
			return "subscriber peer connection: " + err.Error()
		}
		p.subscriber.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { p.onTrack(track) })
		go p.ping(message.Join.PingInterval)
		if p.track != nil {
			if err = p.announce(message.Join); err != nil {
				return "publish: " + err.Error()
			}
		}
	case *livekit.SignalResponse_Offer:
		if err = p.answer(message.Offer); err != nil {
			return "answer: " + err.Error()
		}
		p.pendingSubscriber = addCandidates(p.subscriber, p.pendingSubscriber)
	case *livekit.SignalResponse_TrackPublished:
		if err = p.offer(); err != nil {
			return "offer: " + err.Error()
		}
	case *livekit.SignalResponse_Answer:
		description := webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: message.Answer.Sdp}
		if err = p.publisher.SetRemoteDescription(description); err != nil {
			return "publisher answer: " + err.Error()
		}
		p.pendingPub = addCandidates(p.publisher, p.pendingPub)
	case *livekit.SignalResponse_Trickle:
		var candidate webrtc.ICECandidateInit
		if json.Unmarshal([]byte(message.Trickle.CandidateInit), &candidate) != nil {
			return ""
		}
		if message.Trickle.Target == livekit.SignalTarget_SUBSCRIBER {
			p.pendingSubscriber = addCandidates(p.subscriber, append(p.pendingSubscriber, candidate))
		} else {
			p.pendingPub = addCandidates(p.publisher, append(p.pendingPub, candidate))
		}
	case *livekit.SignalResponse_Leave:
		return "the server asked to leave"
	}
	return ""
}

// addCandidates adds the server's candidates once the connection has its remote description and
// returns those that must still wait.
func addCandidates(pc *webrtc.PeerConnection, pending []webrtc.ICECandidateInit) []webrtc.ICECandidateInit {
	if pc == nil || pc.RemoteDescription() == nil {
		return pending
	}
	for _, candidate := range pending {
		_ = pc.AddICECandidate(candidate)
	}
	return nil
}

func (p *participant) peerConnection(join *livekit.JoinResponse, target livekit.SignalTarget) (*webrtc.PeerConnection, error) {
	config := webrtc.Configuration{ICETransportPolicy: p.policy}
	for _, server := range join.IceServers {
		config.ICEServers = append(config.ICEServers, webrtc.ICEServer{
			URLs: server.Urls, Username: server.Username, Credential: server.Credential,
		})
	}
	pc, err := p.api.NewPeerConnection(config)
	if err != nil {
		return nil, err
	}
	pc.OnICECandidate(func(candidate *webrtc.ICECandidate) {
		if candidate == nil {
			return
		}
		init, _ := json.Marshal(candidate.ToJSON())
		_ = p.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{Trickle: &livekit.TrickleRequest{
			CandidateInit: string(init), Target: target,
		}}})
	})
	return pc, nil
}

// announce creates the publisher connection and asks the server to accept the track; the offer
// follows the server's TrackPublished.
func (p *participant) announce(join *livekit.JoinResponse) error {
	pc, err := p.peerConnection(join, livekit.SignalTarget_PUBLISHER)
	if err != nil {
		return err
	}
	p.publisher = pc
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		if state == webrtc.PeerConnectionStateConnected {
			p.connected.Do(func() { close(p.publishing) })
		}
	})
	sending := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}
	if _, err := pc.AddTransceiverFromTrack(p.track, sending); err != nil {
		return err
	}
	return p.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
		Cid: p.track.ID(), Name: "voice", Type: livekit.TrackType_AUDIO, Source: livekit.TrackSource_MICROPHONE,
		DisableRed: true,
	}}})
}

func (p *participant) offer() error {
	description, err := p.publisher.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := p.publisher.SetLocalDescription(description); err != nil {
		return err
	}
	return p.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{
		Type: "offer", Sdp: description.SDP, Id: 1,
	}}})
}

func (p *participant) answer(offer *livekit.SessionDescription) error {
	if p.subscriber == nil {
		return fmt.Errorf("offer before join")
	}
	if err := p.subscriber.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.Sdp}); err != nil {
		return err
	}
	description, err := p.subscriber.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := p.subscriber.SetLocalDescription(description); err != nil {
		return err
	}
	return p.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Answer{Answer: &livekit.SessionDescription{
		Type: "answer", Sdp: description.SDP, Id: offer.Id,
	}}})
}

func (p *participant) ping(intervalSeconds int32) {
	if intervalSeconds <= 0 {
		intervalSeconds = 5
	}
	for range time.Tick(time.Duration(intervalSeconds) * time.Second) {
		now := time.Now().UnixMilli()
		if p.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: now}}) != nil {
			return
		}
	}
}

// selectedPair names the local candidate of the nominated pair and, for a relay, how it reached TURN.
func selectedPair(pc *webrtc.PeerConnection) (string, string) {
	if pc == nil {
		return "", ""
	}
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
