//! The GraphQL API: in-process through the schema, and over real HTTP and websockets.

mod contract;
mod http;
mod live;
mod loaders;
mod overview;
mod paging;
mod workers;
