// entrakit in a real tenant and subscription: the app registrations of
// app-registration.json (Microsoft Graph Bicep extension), their service
// principals, permissions and admin consent, and the Azure side: two
// user-assigned managed identities, Key Vault, Azure Cache for Redis,
// PostgreSQL, and Azure Container Apps running cmd/webapp and cmd/daemon.
// How to deploy it: docs/deploy.md.
//
// Secretless: no app registration gets a password or a certificate. The web
// app's managed identity is its registration's federated credential
// (entra.clientCredential: ENTRAKIT_MANAGED_IDENTITY with a confidential
// client); the daemon gets app-only tokens as its own managed identity
// (entra.NewAppTokenCredential: ENTRAKIT_MANAGED_IDENTITY takes the
// identity's own tokens, so its service principal holds the daemon's Graph
// application permissions). The only secrets are the cache key ring (a
// parameter), the Redis access key and the PostgreSQL password, all kept in
// Key Vault and read by Container Apps with the managed identities.
//
// Hosting is Azure Container Apps rather than App Service: two containers
// (web app with ingress, daemon without) in one environment, each with its own
// user-assigned identity, Key Vault references as secrets, an HTTP scale rule
// for the web app, a virtual network whose subnet is the exact range of the
// ingress proxy (ENTRAKIT_TRUSTED_PROXIES), and no App Service plan to size.

extension microsoftGraphV1

// ---------------------------------------------------------------------------
// Parameters (values: main.bicepparam)
// ---------------------------------------------------------------------------

@description('Azure region of every Azure resource. Microsoft Graph resources are tenant-wide.')
param location string = resourceGroup().location

@description('Lowercase letters, digits and hyphens, starting with a letter. Prefixes Azure resource names, and replaces "entrakit" in the registrations\' uniqueName (entrakit-webapp becomes <namePrefix>-webapp), so two deployments with different prefixes in one tenant get their own registrations.')
@minLength(3)
@maxLength(20)
param namePrefix string = 'entrakit'

@description('Public host name of the web app, without scheme or port (app.contoso.com). Empty: the Container Apps default host name, <namePrefix>-web.<environment default domain>. Redirect URIs of the registrations use it.')
param hostName string = ''

@description('Resource id of a certificate in the Container Apps environment (a managed certificate made by `az containerapp hostname bind`) for hostName. Empty with a hostName: the domain is added unbound (first deployment, before the DNS records exist).')
param customDomainCertificateId string = ''

@description('Container image of cmd/webapp (listening on ENTRAKIT_LISTEN, set here to :8080).')
param webappImage string

@description('Container image of cmd/daemon.')
param daemonImage string

@description('Name of an Azure Container Registry in this resource group holding the images; both managed identities get AcrPull on it. Empty: the images are public.')
param containerRegistryName string = ''

@description('Grant admin consent: delegated permissions for every user (oauth2PermissionGrants) and application permissions (app role assignments), to Microsoft Graph and to the web API. Needs Privileged Role Administrator (or Global Administrator) besides Application Administrator. False: an administrator consents later (docs/deploy.md).')
param grantAdminConsent bool = false

@description('ENTRAKIT_TOKEN_CACHE_KEYS: comma-separated base64 keys of at least 32 random bytes each (`entractl keys new` or `openssl rand -base64 32`); the first seals, all open. It seals the token cache, the web app\'s sessions and its sign-in cookies. Stored in Key Vault.')
@secure()
@minLength(44)
param tokenCacheKeys string

@description('Password of the PostgreSQL administrator the daemon signs in as (16 or more characters, three of: upper case, lower case, digits, symbols). Stored in Key Vault inside ENTRAKIT_DATABASE_URL.')
@secure()
@minLength(16)
param postgresAdminPassword string

@description('Most replicas of the web app (its HTTP scale rule adds one per 50 concurrent requests). Sessions, sign-ins and tokens live in Redis, so any replica serves any request.')
@minValue(1)
@maxValue(30)
param webappMaxReplicas int = 3

@description('Capacity of the Azure Cache for Redis (Standard tier, replicated): 0 (250 MB) to 6.')
@minValue(0)
@maxValue(6)
param redisCapacity int = 1

@description('Address space of the virtual network: a /16 that does not overlap networks you peer with. Subnets: the Container Apps environment (its ingress proxy connects from there: ENTRAKIT_TRUSTED_PROXIES), PostgreSQL, private endpoints.')
param vnetAddressPrefix string = '10.42.0.0/16'

// ---------------------------------------------------------------------------
// The manifest: infra/app-registration.json
// ---------------------------------------------------------------------------

var manifest = loadJsonContent('app-registration.json')
var graphAppId = '00000003-0000-0000-c000-000000000000'

// The web app is the API the other apps name in their requiredResourceAccess,
// by the manifest's appId (the dev tenant's). Here it is deployed on its own
// so the others can use the appId the tenant assigns it.
var webManifest = filter(manifest.applications, app => app.uniqueName == 'entrakit-webapp')[0]
var clientManifests = filter(manifest.applications, app => app.uniqueName != 'entrakit-webapp')
var clientNames = map(clientManifests, app => app.uniqueName)
var spaIndex = indexOf(clientNames, 'entrakit-spa')
var daemonIndex = indexOf(clientNames, 'entrakit-daemon')
var cliIndex = indexOf(clientNames, 'entrakit-cli')

// graphPermissions by app: permission names, and which of them an
// administrator consents to at deployment (adminConsent). The web app's
// User.Read.All is requested but not consented here: an administrator
// consents on first use of /directory (incremental consent).
var noGraphAccess = { delegated: [], application: [], delegatedConsent: [], applicationConsent: [] }
var graphAccess = toObject(filter(items(manifest.graphPermissions), p => !startsWith(p.key, '$')), p => p.key, p => {
  delegated: p.value.?delegated ?? []
  application: p.value.?application ?? []
  delegatedConsent: intersection(p.value.?adminConsent ?? [], p.value.?delegated ?? [])
  applicationConsent: intersection(p.value.?adminConsent ?? [], p.value.?application ?? [])
})
var webGraphAccess = graphAccess[?webManifest.uniqueName] ?? noGraphAccess
var daemonGraphAccess = graphAccess[?clientNames[daemonIndex]] ?? noGraphAccess

// What each client asks of the web API (the manifest's requiredResourceAccess
// on the web app's manifest appId): scope values by id for the grants, role
// ids for the app role assignments. The ids are the ones this same manifest
// gives the API's scopes and roles.
var webScopeValues = toObject(webManifest.?api.?oauth2PermissionScopes ?? [], scope => scope.id, scope => scope.value)
var clientApiAccess = map(clientManifests, app => flatten(map(filter(app.?requiredResourceAccess ?? [], rra => rra.resourceAppId == webManifest.appId), rra => rra.resourceAccess)))
var clientApiScopes = map(clientApiAccess, access => map(filter(access, a => a.type == 'Scope'), a => webScopeValues[a.id]))
var clientApiRoles = flatten(map(range(0, length(clientManifests)), i => map(filter(clientApiAccess[i], a => a.type == 'Role'), a => { client: i, appRoleId: a.id })))
var daemonApiRoleIds = map(filter(clientApiAccess[daemonIndex], a => a.type == 'Role'), a => a.id)
var clientGraphRoles = flatten(map(range(0, length(clientManifests)), i => map((graphAccess[?clientNames[i]] ?? noGraphAccess).applicationConsent, role => { client: i, role: role })))

// The API's App ID URI. api://<appId> (the manifest's, for the dev tenant)
// cannot be set here: a real tenant assigns the appId when it creates the
// registration, and an application cannot name itself in its own body.
// api://<tenant id>/<string> is one of the formats Entra's app ID URI policy
// accepts for new registrations (it contains a unique tenant identifier), and
// the uniqueName keeps it unique in the tenant. A tenant that enforces
// nonDefaultUriAddition only allows api://<appId>: docs/deploy.md.
var webUniqueName = replace(webManifest.uniqueName, 'entrakit', namePrefix)
var apiIdentifierUri = 'api://${tenant().tenantId}/${webUniqueName}'

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

var suffix = uniqueString(resourceGroup().id, namePrefix)
var webContainerAppName = '${namePrefix}-web'
var daemonContainerAppName = '${namePrefix}-daemon'
var postgresName = '${namePrefix}-pg-${suffix}'
var postgresAdminLogin = 'entrakit'
var postgresDatabaseName = 'entrakit'
var appsSubnetPrefix = cidrSubnet(vnetAddressPrefix, 24, 0)
var postgresSubnetPrefix = cidrSubnet(vnetAddressPrefix, 24, 1)
var endpointsSubnetPrefix = cidrSubnet(vnetAddressPrefix, 24, 2)

// The public host: a custom domain, or the Container Apps default one.
var publicHost = empty(hostName) ? '${webContainerAppName}.${containerEnvironment.properties.defaultDomain}' : hostName

// Built-in Azure roles (role definition ids are the same in every tenant).
var keyVaultSecretsUserRoleId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
var acrPullRoleId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')

// ---------------------------------------------------------------------------
// Managed identities
// ---------------------------------------------------------------------------

// Two identities, not one: the daemon's identity holds Graph application
// permissions (User.Read.All, GroupMember.Read.All, Application.Read.All as
// the app itself); the web app's must not, since it only ever acts for
// signed-in users. Each reads only the Key Vault secrets its app needs.
resource webIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-web-id'
  location: location
}

resource daemonIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-daemon-id'
  location: location
}

// ---------------------------------------------------------------------------
// Network: Container Apps, PostgreSQL and Redis private to one virtual network
// ---------------------------------------------------------------------------

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: '${namePrefix}-vnet'
  location: location
  properties: {
    addressSpace: {
      addressPrefixes: [vnetAddressPrefix]
    }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: appsSubnetPrefix
          delegations: [
            { name: 'containerapps', properties: { serviceName: 'Microsoft.App/environments' } }
          ]
        }
      }
      {
        name: 'postgres'
        properties: {
          addressPrefix: postgresSubnetPrefix
          delegations: [
            { name: 'postgres', properties: { serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers' } }
          ]
        }
      }
      {
        name: 'endpoints'
        properties: {
          addressPrefix: endpointsSubnetPrefix
        }
      }
    ]
  }

  resource appsSubnet 'subnets@2023-11-01' existing = {
    name: 'apps'
  }

  resource postgresSubnet 'subnets@2023-11-01' existing = {
    name: 'postgres'
  }

  resource endpointsSubnet 'subnets@2023-11-01' existing = {
    name: 'endpoints'
  }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: '${namePrefix}-logs'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

// ---------------------------------------------------------------------------
// Key Vault: the cache key ring, the Redis URL, the database URL
// ---------------------------------------------------------------------------

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-${suffix}'
  location: location
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // Container Apps reads Key Vault references from outside the virtual
    // network; access is by Entra ID and RBAC only (no access policies).
    publicNetworkAccess: 'Enabled'
  }
}

// One key ring for the token cache, the web app's sessions and its sign-in
// cookies, and the daemon's cache: both apps must hold the same keys.
resource tokenCacheKeysSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'token-cache-keys'
  properties: {
    value: tokenCacheKeys
    contentType: 'ENTRAKIT_TOKEN_CACHE_KEYS'
  }
}

// The access key must be percent-encoded: it is base64 (+, /, =).
resource redisUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'redis-url'
  properties: {
    value: 'rediss://:${uriComponent(redis.listKeys().primaryKey)}@${redis.properties.hostName}:${redis.properties.sslPort}/0'
    contentType: 'ENTRAKIT_REDIS_URL'
  }
}

resource databaseUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'database-url'
  properties: {
    value: 'postgres://${postgresAdminLogin}:${uriComponent(postgresAdminPassword)}@${postgres.properties.fullyQualifiedDomainName}:5432/${postgresDatabaseName}?sslmode=verify-full'
    contentType: 'ENTRAKIT_DATABASE_URL'
  }
}

// Key Vault Secrets User on each secret, for the identity whose app reads it:
// the web app never sees the database URL.
var secretReaders = [
  { secret: 'token-cache-keys', identity: 'web' }
  { secret: 'redis-url', identity: 'web' }
  { secret: 'token-cache-keys', identity: 'daemon' }
  { secret: 'redis-url', identity: 'daemon' }
  { secret: 'database-url', identity: 'daemon' }
]

resource readableSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [for reader in secretReaders: {
  parent: vault
  name: reader.secret
}]

resource secretReaderRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (reader, i) in secretReaders: {
  name: guid(readableSecrets[i].id, reader.identity == 'web' ? webIdentity.id : daemonIdentity.id, keyVaultSecretsUserRoleId)
  scope: readableSecrets[i]
  properties: {
    roleDefinitionId: keyVaultSecretsUserRoleId
    principalId: reader.identity == 'web' ? webIdentity.properties.principalId : daemonIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [tokenCacheKeysSecret, redisUrlSecret, databaseUrlSecret]
}]

// ---------------------------------------------------------------------------
// Azure Cache for Redis: sessions, sign-in replay marks, token cache, the
// daemon's job locks. TLS only (rediss://, port 6380), private endpoint only.
// ---------------------------------------------------------------------------

resource redis 'Microsoft.Cache/redis@2024-03-01' = {
  name: '${namePrefix}-redis-${suffix}'
  location: location
  properties: {
    sku: { name: 'Standard', family: 'C', capacity: redisCapacity }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Disabled'
    redisVersion: '6'
  }
}

resource redisDnsZone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: 'privatelink.redis.cache.windows.net'
  location: 'global'

  resource link 'virtualNetworkLinks@2020-06-01' = {
    name: vnet.name
    location: 'global'
    properties: {
      registrationEnabled: false
      virtualNetwork: { id: vnet.id }
    }
  }
}

resource redisEndpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: '${namePrefix}-redis-pe'
  location: location
  properties: {
    subnet: { id: vnet::endpointsSubnet.id }
    privateLinkServiceConnections: [
      {
        name: 'redis'
        properties: {
          privateLinkServiceId: redis.id
          groupIds: ['redisCache']
        }
      }
    ]
  }

  resource dns 'privateDnsZoneGroups@2023-11-01' = {
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        { name: 'redis', properties: { privateDnsZoneId: redisDnsZone.id } }
      ]
    }
  }
}

// ---------------------------------------------------------------------------
// PostgreSQL flexible server: the daemon's database. Chosen over SQLite on a
// volume: Container Apps volumes are Azure Files (SMB/NFS), where SQLite's WAL
// and locks are not safe, or EmptyDir, lost with the replica; PostgreSQL also
// lets the daemon run more replicas (the Redis lock picks one per tick).
// ---------------------------------------------------------------------------

resource postgresDnsZone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: '${postgresName}.private.postgres.database.azure.com'
  location: 'global'

  resource link 'virtualNetworkLinks@2020-06-01' = {
    name: vnet.name
    location: 'global'
    properties: {
      registrationEnabled: false
      virtualNetwork: { id: vnet.id }
    }
  }
}

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: postgresName
  location: location
  sku: { name: 'Standard_B1ms', tier: 'Burstable' }
  properties: {
    version: '16'
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    // entrakit reads a password URL (ENTRAKIT_DATABASE_URL); no Entra sign-in.
    authConfig: { activeDirectoryAuth: 'Disabled', passwordAuth: 'Enabled' }
    storage: { storageSizeGB: 32 }
    backup: { backupRetentionDays: 7, geoRedundantBackup: 'Disabled' }
    highAvailability: { mode: 'Disabled' }
    network: {
      delegatedSubnetResourceId: vnet::postgresSubnet.id
      privateDnsZoneArmResourceId: postgresDnsZone.id
      publicNetworkAccess: 'Disabled'
    }
  }
  dependsOn: [postgresDnsZone::link]

  resource database 'databases@2024-08-01' = {
    name: postgresDatabaseName
    properties: { charset: 'UTF8', collation: 'en_US.utf8' }
  }
}

// ---------------------------------------------------------------------------
// Container Apps environment
// ---------------------------------------------------------------------------

resource containerEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${namePrefix}-env'
  location: location
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
    vnetConfiguration: {
      infrastructureSubnetId: vnet::appsSubnet.id
      internal: false
    }
    workloadProfiles: [
      { name: 'Consumption', workloadProfileType: 'Consumption' }
    ]
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = if (!empty(containerRegistryName)) {
  name: containerRegistryName
}

resource registryPullRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for who in ['web', 'daemon']: if (!empty(containerRegistryName)) {
  name: guid(resourceGroup().id, containerRegistryName, who, acrPullRoleId)
  scope: registry
  properties: {
    roleDefinitionId: acrPullRoleId
    principalId: who == 'web' ? webIdentity.properties.principalId : daemonIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}]

// ---------------------------------------------------------------------------
// Microsoft Graph: registrations, service principals, permissions, consent
// ---------------------------------------------------------------------------

resource msGraph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

// The web app and its API. The manifest's fields are passed one by one:
// never appId (read-only, assigned by the tenant), never passwordCredentials
// or keyCredentials (secretless: the managed identity below is the credential).
resource webApp 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: webUniqueName
  displayName: namePrefix == 'entrakit' ? webManifest.displayName : '${webManifest.displayName} (${namePrefix})'
  signInAudience: webManifest.signInAudience
  identifierUris: [apiIdentifierUri]
  groupMembershipClaims: webManifest.?groupMembershipClaims ?? 'None'
  isFallbackPublicClient: webManifest.?isFallbackPublicClient ?? false
  // The manifest's optional claims set a name and whether it is essential.
  optionalClaims: {
    idToken: map(webManifest.?optionalClaims.?idToken ?? [], claim => { name: claim.name, essential: claim.?essential ?? false })
    accessToken: map(webManifest.?optionalClaims.?accessToken ?? [], claim => { name: claim.name, essential: claim.?essential ?? false })
    saml2Token: map(webManifest.?optionalClaims.?saml2Token ?? [], claim => { name: claim.name, essential: claim.?essential ?? false })
  }
  // The manifest's redirect URIs on localhost:8080 and localhost:8443 become
  // https://<public host> with the same paths (the duplicates merge).
  web: {
    redirectUris: union(map(webManifest.?web.?redirectUris ?? [], redirect => 'https://${publicHost}/${join(skip(split(redirect, '/'), 3), '/')}'), [])
    implicitGrantSettings: {
      enableIdTokenIssuance: webManifest.?web.?implicitGrantSettings.?enableIdTokenIssuance ?? false
      enableAccessTokenIssuance: webManifest.?web.?implicitGrantSettings.?enableAccessTokenIssuance ?? false
    }
  }
  spa: {
    redirectUris: union(map(webManifest.?spa.?redirectUris ?? [], redirect => 'https://${publicHost}/${join(skip(split(redirect, '/'), 3), '/')}'), [])
  }
  publicClient: {
    redirectUris: webManifest.?publicClient.?redirectUris ?? []
  }
  api: {
    requestedAccessTokenVersion: webManifest.?api.?requestedAccessTokenVersion ?? 2
    oauth2PermissionScopes: map(webManifest.?api.?oauth2PermissionScopes ?? [], scope => {
      id: scope.id
      value: scope.value
      type: scope.type
      isEnabled: scope.isEnabled
      adminConsentDisplayName: scope.adminConsentDisplayName
      adminConsentDescription: scope.adminConsentDescription
      userConsentDisplayName: scope.?userConsentDisplayName
      userConsentDescription: scope.?userConsentDescription
    })
  }
  appRoles: map(webManifest.?appRoles ?? [], role => {
    id: role.id
    value: role.value
    displayName: role.displayName
    description: role.description
    allowedMemberTypes: role.allowedMemberTypes
    isEnabled: role.isEnabled
  })
  // The manifest's own entries (none on its own API: an app cannot name its
  // appId before it has one), then Microsoft Graph's, ids looked up by value
  // in Graph's service principal: a name Graph does not know fails the
  // deployment instead of quietly asking for less.
  requiredResourceAccess: concat(
    map(filter(webManifest.?requiredResourceAccess ?? [], rra => rra.resourceAppId != webManifest.appId), rra => {
      resourceAppId: rra.resourceAppId
      resourceAccess: map(rra.resourceAccess, access => { id: access.id, type: access.type })
    }),
    empty(webGraphAccess.delegated) && empty(webGraphAccess.application) ? [] : [
      {
        resourceAppId: graphAppId
        resourceAccess: concat(
          map(webGraphAccess.delegated, name => { id: filter(msGraph.oauth2PermissionScopes, scope => scope.value == name)[0].id, type: 'Scope' }),
          map(webGraphAccess.application, name => { id: filter(msGraph.appRoles, role => role.value == name)[0].id, type: 'Role' })
        )
      }
    ]
  )

  // The web app's credential: its managed identity's token for
  // api://AzureADTokenExchange, presented as a client assertion (entra
  // clientCredential). Graph Bicep deploys to the public cloud only, hence
  // that audience.
  resource webAppFederatedCredential 'federatedIdentityCredentials@v1.0' = {
    name: '${webApp.uniqueName}/managed-identity'
    description: 'The web app\'s user-assigned managed identity (${webIdentity.name}) as its client credential.'
    issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
    subject: webIdentity.properties.principalId
    audiences: ['api://AzureADTokenExchange']
  }
}

// The SPA, the daemon and entractl. The daemon registration gets no federated
// credential: in Azure the daemon authenticates as its managed identity, not
// as this registration (entra.NewAppTokenCredential), so a trust would only
// be unused attack surface. The registration keeps its permissions for
// running the daemon elsewhere with a certificate you add (docs/deploy.md).
resource clientApps 'Microsoft.Graph/applications@v1.0' = [for app in clientManifests: {
  uniqueName: replace(app.uniqueName, 'entrakit', namePrefix)
  displayName: namePrefix == 'entrakit' ? app.displayName : '${app.displayName} (${namePrefix})'
  signInAudience: app.signInAudience
  // Only the API has an App ID URI.
  identifierUris: []
  groupMembershipClaims: app.?groupMembershipClaims ?? 'None'
  isFallbackPublicClient: app.?isFallbackPublicClient ?? false
  optionalClaims: {
    idToken: map(app.?optionalClaims.?idToken ?? [], claim => { name: claim.name, essential: claim.?essential ?? false })
    accessToken: map(app.?optionalClaims.?accessToken ?? [], claim => { name: claim.name, essential: claim.?essential ?? false })
    saml2Token: map(app.?optionalClaims.?saml2Token ?? [], claim => { name: claim.name, essential: claim.?essential ?? false })
  }
  web: {
    redirectUris: union(map(app.?web.?redirectUris ?? [], redirect => 'https://${publicHost}/${join(skip(split(redirect, '/'), 3), '/')}'), [])
    implicitGrantSettings: {
      enableIdTokenIssuance: app.?web.?implicitGrantSettings.?enableIdTokenIssuance ?? false
      enableAccessTokenIssuance: app.?web.?implicitGrantSettings.?enableAccessTokenIssuance ?? false
    }
  }
  spa: {
    redirectUris: union(map(app.?spa.?redirectUris ?? [], redirect => 'https://${publicHost}/${join(skip(split(redirect, '/'), 3), '/')}'), [])
  }
  // entractl's loopback redirect (http://localhost, any port) stays as is.
  publicClient: {
    redirectUris: app.?publicClient.?redirectUris ?? []
  }
  api: {
    requestedAccessTokenVersion: app.?api.?requestedAccessTokenVersion ?? 2
    oauth2PermissionScopes: map(app.?api.?oauth2PermissionScopes ?? [], scope => {
      id: scope.id
      value: scope.value
      type: scope.type
      isEnabled: scope.isEnabled
      adminConsentDisplayName: scope.adminConsentDisplayName
      adminConsentDescription: scope.adminConsentDescription
      userConsentDisplayName: scope.?userConsentDisplayName
      userConsentDescription: scope.?userConsentDescription
    })
  }
  appRoles: map(app.?appRoles ?? [], role => {
    id: role.id
    value: role.value
    displayName: role.displayName
    description: role.description
    allowedMemberTypes: role.allowedMemberTypes
    isEnabled: role.isEnabled
  })
  // The manifest's entries, with the web app's manifest appId replaced by the
  // one the tenant gave it, then Microsoft Graph's.
  requiredResourceAccess: concat(
    map(app.?requiredResourceAccess ?? [], rra => {
      resourceAppId: rra.resourceAppId == webManifest.appId ? webApp.appId : rra.resourceAppId
      resourceAccess: map(rra.resourceAccess, access => { id: access.id, type: access.type })
    }),
    empty((graphAccess[?app.uniqueName] ?? noGraphAccess).delegated) && empty((graphAccess[?app.uniqueName] ?? noGraphAccess).application) ? [] : [
      {
        resourceAppId: graphAppId
        resourceAccess: concat(
          map((graphAccess[?app.uniqueName] ?? noGraphAccess).delegated, name => { id: filter(msGraph.oauth2PermissionScopes, scope => scope.value == name)[0].id, type: 'Scope' }),
          map((graphAccess[?app.uniqueName] ?? noGraphAccess).application, name => { id: filter(msGraph.appRoles, role => role.value == name)[0].id, type: 'Role' })
        )
      }
    ]
  )
}]

// Service principals: the apps in this tenant. The web app's carries the tag
// the Entra admin center uses to list it under Enterprise applications, where
// users and groups get its Admin and Reader roles.
resource webSp 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: webApp.appId
  tags: ['WindowsAzureActiveDirectoryIntegratedApp']
}

resource clientSps 'Microsoft.Graph/servicePrincipals@v1.0' = [for (app, i) in clientManifests: {
  appId: clientApps[i].appId
}]

// Admin consent, delegated: one grant per client and resource, for all users,
// with the names graphPermissions lists under adminConsent.
resource webGraphGrant 'Microsoft.Graph/oauth2PermissionGrants@v1.0' = if (grantAdminConsent && !empty(webGraphAccess.delegatedConsent)) {
  clientId: webSp.id
  resourceId: msGraph.id
  consentType: 'AllPrincipals'
  scope: join(webGraphAccess.delegatedConsent, ' ')
}

resource clientGraphGrants 'Microsoft.Graph/oauth2PermissionGrants@v1.0' = [for (app, i) in clientManifests: if (grantAdminConsent && !empty((graphAccess[?app.uniqueName] ?? noGraphAccess).delegatedConsent)) {
  clientId: clientSps[i].id
  resourceId: msGraph.id
  consentType: 'AllPrincipals'
  scope: join((graphAccess[?app.uniqueName] ?? noGraphAccess).delegatedConsent, ' ')
}]

// The SPA and entractl to the web API (access_as_user).
resource clientApiGrants 'Microsoft.Graph/oauth2PermissionGrants@v1.0' = [for (app, i) in clientManifests: if (grantAdminConsent && !empty(clientApiScopes[i])) {
  clientId: clientSps[i].id
  resourceId: webSp.id
  consentType: 'AllPrincipals'
  scope: join(clientApiScopes[i], ' ')
}]

// Admin consent, application permissions: app role assignments. The daemon
// registration's, as the manifest asks (Graph roles and the API's
// Reports.Read.All)...
resource clientGraphRoleAssignments 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for grant in clientGraphRoles: if (grantAdminConsent) {
  principalId: clientSps[grant.client].id
  resourceId: msGraph.id
  appRoleId: filter(msGraph.appRoles, role => role.value == grant.role)[0].id
}]

resource clientApiRoleAssignments 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for grant in clientApiRoles: if (grantAdminConsent) {
  principalId: clientSps[grant.client].id
  resourceId: webSp.id
  appRoleId: grant.appRoleId
}]

// ...and the same to the daemon's managed identity, which is what the daemon
// in Container Apps authenticates as (its principalId is its service
// principal's object id).
resource daemonIdentityGraphRoles 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for roleName in daemonGraphAccess.applicationConsent: if (grantAdminConsent) {
  principalId: daemonIdentity.properties.principalId
  resourceId: msGraph.id
  appRoleId: filter(msGraph.appRoles, role => role.value == roleName)[0].id
}]

resource daemonIdentityApiRoles 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for appRoleId in daemonApiRoleIds: if (grantAdminConsent) {
  principalId: daemonIdentity.properties.principalId
  resourceId: webSp.id
  appRoleId: appRoleId
}]

// ---------------------------------------------------------------------------
// The web app
// ---------------------------------------------------------------------------

resource webContainerApp 'Microsoft.App/containerApps@2024-03-01' = {
  name: webContainerAppName
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${webIdentity.id}': {} }
  }
  properties: {
    environmentId: containerEnvironment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: 8080
        transport: 'http'
        allowInsecure: false
        customDomains: empty(hostName) ? [] : [
          {
            name: hostName
            bindingType: empty(customDomainCertificateId) ? 'Disabled' : 'SniEnabled'
            certificateId: empty(customDomainCertificateId) ? null : customDomainCertificateId
          }
        ]
      }
      registries: empty(containerRegistryName) ? [] : [
        { server: '${containerRegistryName}.azurecr.io', identity: webIdentity.id }
      ]
      // Key Vault references to the versions this deployment wrote: the app
      // gets exactly these values, and a running replica keeps its
      // environment until it restarts (docs/deploy.md, rotating the keys).
      secrets: [
        { name: 'token-cache-keys', keyVaultUrl: tokenCacheKeysSecret.properties.secretUriWithVersion, identity: webIdentity.id }
        { name: 'redis-url', keyVaultUrl: redisUrlSecret.properties.secretUriWithVersion, identity: webIdentity.id }
      ]
    }
    template: {
      containers: [
        {
          name: 'webapp'
          image: webappImage
          resources: { cpu: json('0.5'), memory: '1Gi' }
          env: [
            { name: 'AZURE_TENANT_ID', value: tenant().tenantId }
            { name: 'AZURE_CLIENT_ID', value: webApp.appId }
            // The web app's federated credential (see webAppFederatedCredential).
            { name: 'ENTRAKIT_MANAGED_IDENTITY', value: webIdentity.properties.clientId }
            { name: 'ENTRAKIT_DEV_TENANT', value: 'off' }
            { name: 'ENTRAKIT_LISTEN', value: ':8080' }
            { name: 'ENTRAKIT_REDIRECT_URI', value: 'https://${publicHost}/auth/callback' }
            { name: 'ENTRAKIT_SPA_CLIENT_ID', value: clientApps[spaIndex].appId }
            { name: 'ENTRAKIT_API_IDENTIFIER_URI', value: apiIdentifierUri }
            // Sessions, sign-ins and (ENTRAKIT_TOKEN_CACHE_URL unset) the token cache.
            { name: 'ENTRAKIT_REDIS_URL', secretRef: 'redis-url' }
            { name: 'ENTRAKIT_TOKEN_CACHE_KEYS', secretRef: 'token-cache-keys' }
            // Every request comes through the environment's ingress proxy
            // (TLS ends there), which connects from the apps subnet.
            { name: 'ENTRAKIT_TRUSTED_PROXIES', value: appsSubnetPrefix }
          ]
          probes: [
            { type: 'Liveness', httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 10 }
            { type: 'Readiness', httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 10 }
          ]
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: webappMaxReplicas
        rules: [
          { name: 'http', http: { metadata: { concurrentRequests: '50' } } }
        ]
      }
    }
  }
  // Without its federated credential the web app cannot redeem a code.
  dependsOn: [secretReaderRoles, registryPullRoles, webApp::webAppFederatedCredential]
}

// ---------------------------------------------------------------------------
// The daemon: no ingress; /healthz and /metrics on :9090 for the probes only.
// One replica: the Redis lock would let more share the schedule, but one run
// per tick needs only one.
// ---------------------------------------------------------------------------

resource daemonContainerApp 'Microsoft.App/containerApps@2024-03-01' = {
  name: daemonContainerAppName
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${daemonIdentity.id}': {} }
  }
  properties: {
    environmentId: containerEnvironment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      registries: empty(containerRegistryName) ? [] : [
        { server: '${containerRegistryName}.azurecr.io', identity: daemonIdentity.id }
      ]
      secrets: [
        { name: 'token-cache-keys', keyVaultUrl: tokenCacheKeysSecret.properties.secretUriWithVersion, identity: daemonIdentity.id }
        { name: 'redis-url', keyVaultUrl: redisUrlSecret.properties.secretUriWithVersion, identity: daemonIdentity.id }
        { name: 'database-url', keyVaultUrl: databaseUrlSecret.properties.secretUriWithVersion, identity: daemonIdentity.id }
      ]
    }
    template: {
      containers: [
        {
          name: 'daemon'
          image: daemonImage
          resources: { cpu: json('0.5'), memory: '1Gi' }
          env: [
            { name: 'AZURE_TENANT_ID', value: tenant().tenantId }
            // App-only tokens are the managed identity's own
            // (entra.NewAppTokenCredential ignores the client id then): the
            // identity is who the daemon is, so its client id names it.
            { name: 'AZURE_CLIENT_ID', value: daemonIdentity.properties.clientId }
            { name: 'ENTRAKIT_MANAGED_IDENTITY', value: daemonIdentity.properties.clientId }
            { name: 'ENTRAKIT_DEV_TENANT', value: 'off' }
            { name: 'ENTRAKIT_DAEMON_LISTEN', value: ':9090' }
            { name: 'ENTRAKIT_DATABASE_URL', secretRef: 'database-url' }
            // Job locks (and the token cache, unused with a managed identity).
            { name: 'ENTRAKIT_REDIS_URL', secretRef: 'redis-url' }
            { name: 'ENTRAKIT_TOKEN_CACHE_KEYS', secretRef: 'token-cache-keys' }
          ]
          probes: [
            { type: 'Liveness', httpGet: { path: '/healthz', port: 9090 }, periodSeconds: 30 }
          ]
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: 1
      }
    }
  }
  dependsOn: [secretReaderRoles, registryPullRoles, daemonIdentityGraphRoles]
}

// ---------------------------------------------------------------------------
// Outputs: what an operator and the clients need (docs/deploy.md)
// ---------------------------------------------------------------------------

@description('AZURE_TENANT_ID for every client, entractl included.')
output tenantId string = tenant().tenantId

@description('The web app\'s application (client) id: its AZURE_CLIENT_ID.')
output webAppClientId string = webApp.appId

@description('The SPA\'s application (client) id: the web app\'s ENTRAKIT_SPA_CLIENT_ID.')
output spaClientId string = clientApps[spaIndex].appId

@description('entractl\'s application (client) id: ENTRACTL_CLIENT_ID.')
output cliClientId string = clientApps[cliIndex].appId

@description('The daemon registration\'s application (client) id, for running the daemon outside Azure with a certificate. In Azure the daemon is its managed identity.')
output daemonAppClientId string = clientApps[daemonIndex].appId

@description('The API\'s App ID URI: the web app\'s ENTRAKIT_API_IDENTIFIER_URI.')
output apiIdentifierUri string = apiIdentifierUri

@description('The scope clients ask for to call the API (entractl token --scopes).')
output apiScope string = '${apiIdentifierUri}/access_as_user'

@description('Client id of the web app\'s managed identity (its ENTRAKIT_MANAGED_IDENTITY, the subject of its federated credential).')
output webIdentityClientId string = webIdentity.properties.clientId

@description('Client id of the daemon\'s managed identity (its AZURE_CLIENT_ID and ENTRAKIT_MANAGED_IDENTITY).')
output daemonIdentityClientId string = daemonIdentity.properties.clientId

@description('Object id of the daemon\'s managed identity\'s service principal, which holds its Graph application permissions.')
output daemonIdentityPrincipalId string = daemonIdentity.properties.principalId

@description('The web app.')
output webUrl string = 'https://${publicHost}/'

@description('The single-page app.')
output spaUrl string = 'https://${publicHost}/spa/'

@description('ENTRAKIT_REDIRECT_URI of the web app.')
output redirectUri string = 'https://${publicHost}/auth/callback'

@description('The Container Apps default host name of the web app: the target of a custom domain\'s CNAME record.')
output webDefaultHostName string = '${webContainerAppName}.${containerEnvironment.properties.defaultDomain}'

@description('Value of the asuid.<hostName> TXT record that proves a custom domain.')
output customDomainVerificationId string = containerEnvironment.properties.?customDomainConfiguration.?customDomainVerificationId ?? ''

@description('The Key Vault holding token-cache-keys (ENTRAKIT_TOKEN_CACHE_KEYS), redis-url and database-url.')
output keyVaultName string = vault.name

@description('The web app\'s container app, for az containerapp commands.')
output webContainerAppName string = webContainerApp.name

@description('The daemon\'s container app, for az containerapp commands.')
output daemonContainerAppName string = daemonContainerApp.name

@description('The Container Apps environment.')
output containerEnvironmentName string = containerEnvironment.name
