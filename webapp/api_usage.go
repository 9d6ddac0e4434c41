package webapp

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra"
	"github.com/gin-gonic/gin"
	dto "github.com/prometheus/client_model/go"
)

// usageReport is /api/reports/usage: what this instance of the web app and
// API has done since it started, read from its own metrics. Daemons read
// it with an app-only token carrying the Reports.Read.All role.
type usageReport struct {
	GeneratedAt time.Time `json:"generatedAt"`
	Since       time.Time `json:"since"`
	// Caller is the client id (azp) of the daemon that asked.
	Caller string `json:"caller"`
	// SignIns by outcome: started, completed, cancelled, ...
	SignIns map[string]int64 `json:"signIns"`
	// APIRequests by route and status code.
	APIRequests []routeCount `json:"apiRequests"`
	// OBOAcquisitions by source: memo, cache, entra, failed.
	OBOAcquisitions map[string]int64 `json:"oboAcquisitions"`
	// GraphRequests by status code.
	GraphRequests map[string]int64 `json:"graphRequests"`
}

type routeCount struct {
	Route string `json:"route"`
	Code  string `json:"code"`
	Count int64  `json:"count"`
}

func (x *api) usage(c *gin.Context) {
	families, err := x.a.metrics.reg.Gather()
	if err != nil {
		x.error(c, http.StatusInternalServerError, "server_error", "metrics unavailable", err)
		return
	}
	claims := c.MustGet(ctxAPIClaims).(*entra.Claims)
	r := usageReport{GeneratedAt: x.a.now().UTC(), Since: x.started.UTC(), Caller: claims.AuthorizedParty,
		SignIns: map[string]int64{}, APIRequests: []routeCount{}, OBOAcquisitions: map[string]int64{}, GraphRequests: map[string]int64{}}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			n := int64(m.GetCounter().GetValue())
			switch f.GetName() {
			case "entrakit_signins_total":
				r.SignIns[label(m, "result")] += n
			case "entrakit_obo_acquisitions_total":
				r.OBOAcquisitions[label(m, "source")] += n
			case "entrakit_graph_requests_total":
				r.GraphRequests[label(m, "code")] += n
			case "entrakit_http_requests_total":
				if route := label(m, "route"); strings.HasPrefix(route, "/api/") {
					r.APIRequests = append(r.APIRequests, routeCount{route, label(m, "code"), n})
				}
			}
		}
	}
	sort.Slice(r.APIRequests, func(i, j int) bool {
		a, b := r.APIRequests[i], r.APIRequests[j]
		return a.Route < b.Route || a.Route == b.Route && a.Code < b.Code
	})
	c.JSON(http.StatusOK, r)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
