package entra

import (
	"fmt"
	"net/url"
	"strings"
)

// Cloud names the Entra authority host and the Microsoft Graph endpoint of one
// national cloud. The zero value means [AzurePublic].
//
// Endpoints: https://learn.microsoft.com/graph/deployments
type Cloud struct {
	// Name is a short label for logs and errors ("public", "usgov", "china", "custom").
	Name string
	// AuthorityHost is the login endpoint, e.g. https://login.microsoftonline.com/.
	AuthorityHost string
	// GraphEndpoint is Microsoft Graph's root, e.g. https://graph.microsoft.com.
	GraphEndpoint string
	// GraphResource is the audience of Graph's tokens, when it is not
	// GraphEndpoint: a proxy or the dev tenant's emulator serves Graph at
	// another URL, but Entra issues its tokens for the cloud's Graph.
	GraphResource string
}

// The national clouds entrakit knows.
var (
	AzurePublic = Cloud{
		Name:          "public",
		AuthorityHost: "https://login.microsoftonline.com/",
		GraphEndpoint: "https://graph.microsoft.com",
	}
	AzureGovernment = Cloud{
		Name:          "usgov",
		AuthorityHost: "https://login.microsoftonline.us/",
		GraphEndpoint: "https://graph.microsoft.us",
	}
	AzureChina = Cloud{
		Name:          "china",
		AuthorityHost: "https://login.chinacloudapi.cn/",
		GraphEndpoint: "https://microsoftgraph.chinacloudapi.cn",
	}
)

// CloudByName returns the cloud called name ("public", "usgov", "china"; also
// the azidentity spellings "AzurePublic", "AzureGovernment", "AzureChina").
func CloudByName(name string) (Cloud, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "public", "azurepublic", "azurepubliccloud":
		return AzurePublic, nil
	case "usgov", "azuregovernment", "azureusgovernment":
		return AzureGovernment, nil
	case "china", "azurechina", "azurechinacloud":
		return AzureChina, nil
	}
	return Cloud{}, fmt.Errorf("unknown cloud %q (want public, usgov or china)", name)
}

// IsMicrosoftHost reports whether the cloud's authority host is one of
// Microsoft's own login hosts. MSAL's instance discovery only works for those;
// for any other host (the dev tenant, a proxy) it must be turned off.
func (c Cloud) IsMicrosoftHost() bool {
	u, err := url.Parse(c.orDefault().AuthorityHost)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Hostname()) {
	case "login.microsoftonline.com", "login.microsoft.com", "login.windows.net",
		"sts.windows.net", "login.microsoftonline.us", "login.usgovcloudapi.net",
		"login.chinacloudapi.cn", "login.partner.microsoftonline.cn":
		return true
	}
	return false
}

func (c Cloud) orDefault() Cloud {
	if c == (Cloud{}) {
		return AzurePublic
	}
	return c
}

// Authority returns the authority URL for tenant: AuthorityHost + tenant.
func (c Cloud) Authority(tenant string) string {
	return strings.TrimSuffix(c.orDefault().AuthorityHost, "/") + "/" + tenant
}

// GraphScope returns the ".default" scope of the cloud's Graph (its
// GraphResource, else GraphEndpoint), as client credentials and managed
// identity need it.
func (c Cloud) GraphScope() string {
	c = c.orDefault()
	if c.GraphResource != "" {
		return strings.TrimSuffix(c.GraphResource, "/") + "/.default"
	}
	return strings.TrimSuffix(c.GraphEndpoint, "/") + "/.default"
}
