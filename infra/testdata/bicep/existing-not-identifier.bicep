// Broken: an existing service principal is selected by appId only.
extension microsoftGraphV1

var manifest = loadJsonContent('app-registration.json')

resource msGraph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000'
  displayName: 'Microsoft Graph'
}

resource apps 'Microsoft.Graph/applications@v1.0' = [for app in manifest.applications: {
  uniqueName: app.uniqueName
  displayName: app.displayName
}]
