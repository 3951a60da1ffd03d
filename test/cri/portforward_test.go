//go:build e2e

package cri

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/test/harness"
)

// TestPortForward: `kubectl port-forward` as the kubelet serves it (CRI's
// PortForward, then kubectl's own SPDY client against the URL it gives)
// reaches an httpd in the pod, in both isolations: in a VM pod the server
// listens in the guest, and the shim carries the pod namespace's loopback
// there. A port nobody listens on ends the forwarded connection at once.
func TestPortForward(t *testing.T) {
	for _, tc := range []struct {
		handler string
		vm      bool
	}{
		{harness.HandlerProcess, false},
		{harness.HandlerHypervisor, true},
		{harness.HandlerHypervisorSandboxAPI, true},
	} {
		t.Run(tc.handler, func(t *testing.T) {
			if tc.vm {
				harness.RequireBootFiles(t)
			}
			p := runPod(t, tc.handler, "portforward", nil)
			p.container(t, "httpd", 0, "sh", "-c", "mkdir /www; hostname > /www/hostname; exec httpd -f -p 8080 -h /www")
			if got := forwardedGet(t, p.id, 8080, "/hostname"); strings.TrimSpace(got) != p.config.Hostname {
				t.Fatalf("GET /hostname through port-forward: %q, want %q", got, p.config.Hostname)
			}
			if got, err := forwardedGetOnce(t, p.id, 8081, "/hostname"); err == nil {
				t.Fatalf("GET through port-forward to a port nobody listens on answered %q", got)
			}
			p.remove(t)
			cd.AssertNoLeaks(t)
		})
	}
}

// forwardedGet fetches path from port of the pod through port-forward,
// trying a few times while the pod's server starts.
func forwardedGet(t *testing.T, podID string, port int32, path string) string {
	t.Helper()
	var err error
	for range 10 {
		var body string
		if body, err = forwardedGetOnce(t, podID, port, path); err == nil {
			return body
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("GET %s on port %d of pod %s through port-forward: %v", path, port, podID, err)
	return ""
}

// forwardedGetOnce asks CRI for a port-forward of port, forwards a local
// port to it with kubectl's client (SPDY), and fetches path through it.
func forwardedGetOnce(t *testing.T, podID string, port int32, path string) (string, error) {
	t.Helper()
	resp, err := runtime.PortForward(rpcCtx(t), &runtimeapi.PortForwardRequest{PodSandboxId: podID, Port: []int32{port}})
	if err != nil {
		t.Fatalf("PortForward: %v", err)
	}
	u, err := url.Parse(resp.Url)
	if err != nil {
		t.Fatalf("PortForward's URL %q: %v", resp.Url, err)
	}
	transport, upgrader, err := spdy.RoundTripperFor(&rest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	defer close(stop)
	var errOut strings.Builder
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, io.Discard, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-done:
		return "", fmt.Errorf("port-forward: %v", err)
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("port-forward not ready after 30s")
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("forwarded ports: %v %v", ports, err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	r, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", ports[0].Local, path))
	if err != nil {
		return "", fmt.Errorf("%v (port-forward said %q)", err, errOut.String())
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return "", err
	}
	if r.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %q", r.Status, body)
	}
	return string(body), nil
}
