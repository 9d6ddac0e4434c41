// A main.bicep in small: every construct infra/main.bicep uses around its
// Microsoft Graph resources, all of them valid. The broken fixtures beside it
// each get one thing wrong (internal/bicepcheck/infra_bicep_test.go).
extension microsoftGraphV1

/* Parameters: decorators, a multi-line string, a secure one. */
@description('''
Prefix of the registrations' uniqueName.
''')
@minLength(3)
param namePrefix string = 'entrakit'

@secure()
param tokenCacheKeys string

param grantAdminConsent bool = false

var manifest = loadJsonContent('app-registration.json')
var graphAppId = '00000003-0000-0000-c000-000000000000'
var webManifest = filter(manifest.applications, app => app.uniqueName == 'entrakit-webapp')[0]
var clientManifests = filter(manifest.applications, app => app.uniqueName != 'entrakit-webapp')
var graphAccess = toObject(filter(items(manifest.graphPermissions), p => !startsWith(p.key, '$')), p => p.key, p => {
  delegated: p.value.?delegated ?? []
  adminConsent: p.value.?adminConsent ?? []
})

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-id'
  location: resourceGroup().location
  // An ARM resource: not checked against the Graph types.
  tags: { 'made-by': 'bicep' }
}

resource msGraph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

resource webApp 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: replace(webManifest.uniqueName, 'entrakit', namePrefix)
  displayName: namePrefix == 'entrakit' ? webManifest.displayName : '${webManifest.displayName} (${namePrefix})'
  signInAudience: 'AzureADMyOrg'
  identifierUris: ['api://${tenant().tenantId}/${namePrefix}-webapp']
  isFallbackPublicClient: false
  optionalClaims: {
    idToken: map(webManifest.?optionalClaims.?idToken ?? [], claim => { name: claim.name, essential: claim.?essential ?? false })
  }
  web: {
    redirectUris: union(map(webManifest.web.redirectUris, uri => 'https://example.org/${join(skip(split(uri, '/'), 3), '/')}'), [])
    implicitGrantSettings: {
      enableIdTokenIssuance: false
      enableAccessTokenIssuance: false
    }
  }
  api: {
    requestedAccessTokenVersion: 2
    oauth2PermissionScopes: map(webManifest.api.oauth2PermissionScopes, scope => {
      id: scope.id
      value: scope.value
      type: scope.type
      isEnabled: scope.isEnabled
      adminConsentDisplayName: scope.adminConsentDisplayName
      adminConsentDescription: scope.adminConsentDescription
    })
  }
  requiredResourceAccess: concat(
    [],
    empty(graphAccess[webManifest.uniqueName].delegated) ? [] : [
      {
        resourceAppId: graphAppId
        resourceAccess: map(graphAccess[webManifest.uniqueName].delegated, name => {
          id: filter(msGraph.oauth2PermissionScopes, scope => scope.value == name)[0].id
          type: 'Scope'
        })
      }
    ]
  )

  resource credential 'federatedIdentityCredentials@v1.0' = {
    name: '${webApp.uniqueName}/managed-identity'
    description: 'The web app\'s managed identity'
    issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
    subject: identity.properties.principalId
    audiences: ['api://AzureADTokenExchange']
  }
}

resource clientApps 'Microsoft.Graph/applications@v1.0' = [for app in clientManifests: {
  uniqueName: replace(app.uniqueName, 'entrakit', namePrefix)
  displayName: app.displayName
  isFallbackPublicClient: app.?isFallbackPublicClient ?? false
  spa: {
    redirectUris: app.?spa.?redirectUris ?? []
  }
  publicClient: contains(app, 'publicClient') ? { redirectUris: app.publicClient.redirectUris } : null
}]

resource webSp 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: webApp.appId
  tags: ['WindowsAzureActiveDirectoryIntegratedApp']
}

resource clientSps 'Microsoft.Graph/servicePrincipals@v1.0' = [for (app, i) in clientManifests: {
  appId: clientApps[i].appId
}]

resource grant 'Microsoft.Graph/oauth2PermissionGrants@v1.0' = if (grantAdminConsent) {
  clientId: webSp.id
  resourceId: msGraph.id
  consentType: 'AllPrincipals'
  scope: join(graphAccess[webManifest.uniqueName].adminConsent, ' ')
}

resource roles 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for roleName in ['User.Read.All']: if (grantAdminConsent) {
  principalId: identity.properties.principalId
  resourceId: msGraph.id
  appRoleId: filter(msGraph.appRoles, role => role.value == roleName)[0].id
}]

resource daemonCredential 'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0' = {
  name: '${clientApps[0].uniqueName}/daemon'
  issuer: 'https://login.microsoftonline.com/${tenant().tenantId}/v2.0'
  subject: identity.properties.principalId
  audiences: [
    'api://AzureADTokenExchange'
  ]
}

output webAppClientId string = webApp.appId
output apiScope string = 'api://${tenant().tenantId}/${namePrefix}-webapp/access_as_user'
