// Prints, as JSON, where the AWS SDK for JavaScript v3's default credential
// chain found credentials and whom STS says they belong to: what a Node.js
// program run in a shell after eval "$(brokerd env PROFILE)" gets.
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";

const client = new STSClient({});
try {
  const creds = await client.config.credentials();
  const out = await client.send(new GetCallerIdentityCommand({}));
  console.log(JSON.stringify({ source: creds.$source ?? {}, arn: out.Arn, region: await client.config.region() }));
} catch (err) {
  console.log(JSON.stringify({ error: `${err.name}: ${err.message}` }));
}
