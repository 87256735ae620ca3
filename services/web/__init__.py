"""The console's page layer shared by every service's pages: layout, navigation by role, the words people read,
readable Chinese error pages, lists with paging and filters kept in the URL (docs/domain/console.md)."""
