// Parameters of main.bicep. No secret is written here: the two secure values
// are read from the deployer's environment when the deployment starts
// (readEnvironmentVariable fails the deployment if one is unset).
// Steps and required roles: docs/deploy.md.
using 'main.bicep'

// Azure region of the Azure resources (the Graph resources are tenant-wide).
param location = 'westeurope'

// Prefix of Azure resource names; also replaces "entrakit" in the app
// registrations' uniqueName, so another prefix is another set of
// registrations in the same tenant (e.g. 'entrakit-staging').
param namePrefix = 'entrakit'

// The web app's public host name, e.g. 'entrakit.contoso.com'. Empty: the
// Container Apps default host name (output webDefaultHostName). With a custom
// name, deploy once with customDomainCertificateId empty, add the DNS records,
// bind a managed certificate, then set its id here (docs/deploy.md).
param hostName = ''
param customDomainCertificateId = ''

// Images of cmd/webapp and cmd/daemon, e.g. 'myregistry.azurecr.io/entrakit/webapp:1.4.0'.
param webappImage = readEnvironmentVariable('WEBAPP_IMAGE')
param daemonImage = readEnvironmentVariable('DAEMON_IMAGE')

// An Azure Container Registry in the same resource group holding the images
// (both managed identities get AcrPull on it); empty for public images.
param containerRegistryName = ''

// true: the deployment consents for the tenant (Graph delegated and
// application permissions, the web API's scope and role). Needs a deployer
// with Privileged Role Administrator (or Global Administrator). false: an
// administrator runs the same deployment with true later.
param grantAdminConsent = false

// ENTRAKIT_TOKEN_CACHE_KEYS, stored in Key Vault: `entractl keys new` or
// `openssl rand -base64 32`; '<new>,<old>' while rotating (docs/deploy.md).
param tokenCacheKeys = readEnvironmentVariable('ENTRAKIT_TOKEN_CACHE_KEYS')

// The PostgreSQL administrator's password (the daemon's database user).
param postgresAdminPassword = readEnvironmentVariable('POSTGRES_ADMIN_PASSWORD')

// Most web app replicas; Redis capacity (Standard C0-C6); the virtual
// network's /16.
param webappMaxReplicas = 3
param redisCapacity = 1
param vnetAddressPrefix = '10.42.0.0/16'
