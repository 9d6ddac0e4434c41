// Broken: a spread sends every manifest property, appId (read-only) included.
extension microsoftGraphV1

var manifest = loadJsonContent('app-registration.json')

resource apps 'Microsoft.Graph/applications@v1.0' = [for app in manifest.applications: {
  ...app
}]
