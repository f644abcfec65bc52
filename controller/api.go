package controller

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// API limits.
const (
	maxFrameBytes      = MaxBodyBytes + 16<<10 // a body and a generous header
	maxInFlightPerConn = 32                    // requests of one connection handled at once
	apiWriteTimeout    = 5 * time.Second
)

// apiConn is one broker or tool connection: frames are written whole,
// one at a time.
type apiConn struct {
	conn net.Conn
	mu   sync.Mutex
}

func (a *apiConn) write(cmd *remoting.Command) error {
	frame := remoting.AppendFrame(nil, cmd)
	a.mu.Lock()
	defer a.mu.Unlock()
	_ = a.conn.SetWriteDeadline(time.Now().Add(apiWriteTimeout))
	_, err := a.conn.Write(frame)
	return err
}

// serveConn reads requests until the connection breaks; each is handled
// on its own goroutine, at most maxInFlightPerConn at once, and answered
// in whatever order they finish (responses carry the request's opaque).
func (c *Controller) serveConn(conn net.Conn, first byte) {
	ac := &apiConn{conn: conn}
	r := bufio.NewReader(io.MultiReader(bytes.NewReader([]byte{first}), conn))
	slots := make(chan struct{}, maxInFlightPerConn)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		req, err := readFrame(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Debug("controller: connection dropped", "remote", conn.RemoteAddr().String(), "err", err)
			}
			return
		}
		if req.IsResponse() {
			continue
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			resp := c.handle(req, ac)
			if !req.IsOneway() {
				_ = ac.write(resp)
			}
		}()
	}
}

// readFrame reads one remoting frame of at most maxFrameBytes.
func readFrame(r *bufio.Reader) (*remoting.Command, error) {
	var prefix [8]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, err
	}
	if _, err := remoting.FrameSize(prefix[:], maxFrameBytes); err != nil {
		return nil, err
	}
	frame := make([]byte, int(binary.BigEndian.Uint32(prefix[:]))+4)
	copy(frame, prefix[:])
	if _, err := io.ReadFull(r, frame[8:]); err != nil {
		return nil, err
	}
	cmd := new(remoting.Command)
	if err := remoting.Decode(frame, cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

// handle answers one request. Only CONTROLLER_GET_METADATA_INFO is
// answered by every member; the rest need the leader in office, and any
// other member answers CONTROLLER_NOT_LEADER naming the leader.
func (c *Controller) handle(req *remoting.Command, conn *apiConn) *remoting.Command {
	if req.Code == remoting.RequestControllerGetMetadataInfo {
		return okResponse(req, c.metadata())
	}
	if !c.inOffice() {
		return c.notLeader(req)
	}
	var body any
	var err error
	switch req.Code {
	case remoting.RequestControllerRegisterBroker:
		body, err = c.handleRegister(req.Body)
	case remoting.RequestBrokerHeartbeat:
		body, err = c.handleHeartbeat(req.Body, conn)
	case remoting.RequestControllerGetReplicaInfo:
		body, err = c.handleReplicaInfo(req.Body)
	case remoting.RequestControllerAlterSyncStateSet:
		body, err = c.handleAlterSyncStateSet(req.Body)
	case remoting.RequestControllerElectMaster:
		body, err = c.handleElectMaster(req.Body)
	case remoting.RequestControllerGetSyncStateData:
		body, err = c.handleSyncStateData(req.Body)
	default:
		return remoting.NewResponse(req, remoting.ResponseRequestCodeNotSupported,
			fmt.Sprintf("request code %d is not a controller request", req.Code))
	}
	if err != nil {
		return c.errorResponse(req, err)
	}
	return okResponse(req, body)
}

func okResponse(req *remoting.Command, body any) *remoting.Command {
	resp := remoting.NewResponse(req, remoting.ResponseSuccess, "")
	data, err := json.Marshal(body)
	if err != nil {
		return remoting.NewResponse(req, remoting.ResponseSystemError, "controller: encode answer: "+err.Error())
	}
	resp.Body = data
	return resp
}

// errorResponse maps an error onto its response code.
func (c *Controller) errorResponse(req *remoting.Command, err error) *remoting.Command {
	var ce *Error
	switch {
	case errors.As(err, &ce):
		if errors.Is(ce, ErrFenced) {
			c.metrics.FencedAsks.Add(1)
		}
		return remoting.NewResponse(req, ce.Code, ce.Remark)
	case errors.Is(err, ErrInvalidRequest):
		return remoting.NewResponse(req, remoting.ResponseControllerInvalidRequest, err.Error())
	case errors.Is(err, ErrNotLeader):
		return c.notLeader(req)
	}
	return remoting.NewResponse(req, remoting.ResponseSystemError, err.Error())
}

func (c *Controller) notLeader(req *remoting.Command) *remoting.Command {
	_, addr := c.Leader()
	if addr == c.addr {
		addr = "" // this member leads but has not taken office yet: ask again shortly
	}
	resp := remoting.NewResponse(req, remoting.ResponseControllerNotLeader, "not the controller leader; leader: "+addr)
	if addr != "" {
		resp.SetExt(ExtLeaderAddress, addr)
	}
	return resp
}

// refusal turns a refused Result into an error.
func refusal(res Result) error {
	if res.Code == remoting.ResponseSuccess {
		return nil
	}
	return &Error{Code: res.Code, Remark: res.Remark}
}

func (c *Controller) metadata() *Metadata {
	leaderID, leaderAddr := c.Leader()
	md := &Metadata{ID: c.opts.ID, Addr: c.addr, State: c.raft.State().String(), LeaderID: leaderID, LeaderAddr: leaderAddr}
	if f := c.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			md.Peers = append(md.Peers, PeerInfo{ID: string(s.ID), Addr: string(s.Address)})
		}
	}
	return md
}
