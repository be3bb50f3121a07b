export { TaskerClient, TaskerError } from './client.js';
export type { GraphQLErrorItem, TaskerClientOptions } from './client.js';
export * from './gql/graphql.js';
