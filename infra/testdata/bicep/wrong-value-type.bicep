// Broken: isFallbackPublicClient is a bool, not a string.
extension microsoftGraphV1

var manifest = loadJsonContent('app-registration.json')

resource cli 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: 'entrakit-cli'
  displayName: 'entractl'
  isFallbackPublicClient: 'yes'
}
