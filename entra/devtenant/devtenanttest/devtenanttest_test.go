package devtenanttest_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/infra"
)

// fatalTB records the test's Fatalf and ends the goroutine, as testing.T
// does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatalOf runs body with a TB that records a fatal failure instead of
// failing t, and returns its message ("" if body did not fail).
func fatalOf(t *testing.T, body func(testing.TB)) string {
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(ft)
	}()
	<-done
	return ft.msg
}

func TestStart(t *testing.T) {
	const tenantID = "0b5e9a4c-3d2f-4e1a-8b7c-6d5e4f3a2b1c"
	var srv *devtenant.Server
	t.Run("serves", func(t *testing.T) {
		srv = devtenanttest.Start(t, func(o *devtenant.Options) { o.TenantID = tenantID })
		if srv.TenantID() != tenantID {
			t.Errorf("TenantID = %q: the options were not applied", srv.TenantID())
		}
		var manifest struct {
			Applications []struct{ AppID string } `json:"applications"`
		}
		if err := json.Unmarshal(infra.AppRegistration(), &manifest); err != nil {
			t.Fatal(err)
		}
		if got := len(srv.Applications()); got == 0 || got != len(manifest.Applications) {
			t.Errorf("%d applications registered, infra's manifest has %d", got, len(manifest.Applications))
		}
		res, err := srv.Client().Get(srv.Issuer() + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var discovery struct {
			Issuer string `json:"issuer"`
		}
		err = json.NewDecoder(res.Body).Decode(&discovery)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || err != nil || discovery.Issuer != srv.Issuer() {
			t.Errorf("discovery: %s, issuer %q (%v), want %s", res.Status, discovery.Issuer, err, srv.Issuer())
		}
	})
	// The test has ended: the tenant is closed.
	client := srv.Client()
	client.Transport.(*http.Transport).DisableKeepAlives = true
	if res, err := client.Get(srv.Issuer() + "/.well-known/openid-configuration"); err == nil {
		res.Body.Close()
		t.Errorf("the dev tenant still answers after its test: %s", res.Status)
	}
}

func TestStartFailsTheTest(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	msg := fatalOf(t, func(tb testing.TB) {
		devtenanttest.Start(tb, func(o *devtenant.Options) { o.Addr = busy.Addr().String() })
	})
	if !strings.HasPrefix(msg, "devtenanttest: ") || !strings.Contains(msg, "listen") {
		t.Errorf("Start on a busy port failed with %q", msg)
	}
	msg = fatalOf(t, func(tb testing.TB) {
		devtenanttest.Start(tb, func(o *devtenant.Options) { o.Manifest = []byte("{") })
	})
	if !strings.HasPrefix(msg, "devtenanttest: ") {
		t.Errorf("Start with a bad manifest failed with %q", msg)
	}
}

func TestPersona(t *testing.T) {
	srv := devtenanttest.Start(t)
	adele := devtenanttest.Persona(t, srv, "AdeleV")
	if !strings.HasPrefix(adele.Username, "AdeleV@") || adele.Password == "" || adele.OID == "" {
		t.Errorf("AdeleV: username %q, OID %q, password set: %v", adele.Username, adele.OID, adele.Password != "")
	}
	if msg := fatalOf(t, func(tb testing.TB) { devtenanttest.Persona(tb, srv, "Nobody") }); !strings.Contains(msg, `no persona "Nobody"`) {
		t.Errorf("an unknown persona failed with %q", msg)
	}
}
