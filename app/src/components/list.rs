//! What every page that loads something would otherwise repeat: "Loading…"
//! until the answer arrives, the error when it failed, and for lists the
//! empty state and the pager. And the signed-in user, loaded once by the
//! layout, so a page shows only the actions its user's role allows.

use std::sync::Arc;

use herald_engine::model::{Page, Paged, Permission, UserOut, href};
use leptos::prelude::*;
use leptos_router::components::A;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::components::ui::ErrorNotice;
use crate::error::ConsoleError;

/// Something a server function answers that a page draws once it arrives.
pub trait Loadable: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}
impl<T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static> Loadable for T {}

/// `resource`'s answer drawn by `show`: "Loading…" until it arrives (the
/// previous answer stays on screen while a new one loads), the error if it
/// failed.
#[component]
pub fn Loaded<T, V, F>(
    resource: Resource<Result<T, ConsoleError>>,
    show: F,
    /// The page's heading when loading failed (an answer draws its own).
    #[prop(optional)]
    title: Option<&'static str>,
) -> impl IntoView
where
    T: Loadable,
    V: IntoView + 'static,
    F: Fn(T) -> V + Send + Sync + 'static,
{
    let show = Arc::new(show);
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let show = show.clone();
                Suspend::new(async move {
                    match resource.await {
                        Err(e) => view! {
                            {title.map(|t| view! { <h1>{t}</h1> })}
                            <ErrorNotice error=e/>
                        }
                        .into_any(),
                        Ok(answer) => show(answer).into_any(),
                    }
                })
            }}
        </Transition>
    }
}

/// A list a page draws: whether it has rows, and the cursor of the page after it.
pub trait Rows: Loadable {
    fn is_empty(&self) -> bool;
    fn next_cursor(&self) -> Option<String> {
        None
    }
}

impl<T: Loadable> Rows for Vec<T> {
    fn is_empty(&self) -> bool {
        <[T]>::is_empty(self)
    }
}

impl<T: Loadable> Rows for Page<T> {
    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    fn next_cursor(&self) -> Option<String> {
        self.next_cursor.clone()
    }
}

/// A list: its rows drawn by `rows`, `empty` when there are none, and under
/// them the pager: a link to the first page when this is a later one
/// (`newest`), and one to the next page (`older`, from its cursor).
#[component]
pub fn Listing<L, V, F>(
    resource: Resource<Result<L, ConsoleError>>,
    /// Shown in place of the rows when there are none.
    #[prop(into)]
    empty: ViewFn,
    rows: F,
    /// The link to the page after the one shown, given its cursor.
    #[prop(optional)]
    older: Option<Callback<String, String>>,
    /// The link to the first page, when a later one is shown.
    #[prop(optional, into)]
    newest: Option<Signal<Option<String>>>,
) -> impl IntoView
where
    L: Rows,
    V: IntoView + 'static,
    F: Fn(L) -> V + Send + Sync + 'static,
{
    let show = move |list: L| {
        if list.is_empty() {
            return empty.run();
        }
        let next = list
            .next_cursor()
            .and_then(|cursor| older.map(|older| older.run(cursor)));
        let first = newest.and_then(|n| n.get_untracked());
        let pager = (next.is_some() || first.is_some()).then(|| {
            view! {
                <nav class="pager" aria-label="Pages">
                    {first.map(|href| view! { <A href=href>"← Newest"</A> })}
                    {next.map(|href| view! { <A href=href>"Older →"</A> })}
                </nav>
            }
        });
        view! { {rows(list)} {pager} }.into_any()
    };
    view! { <Loaded resource show/> }
}

/// The pager's links for a list whose query is in the page's URL at `path`:
/// to the first page (when a later one is shown) and to the page after a cursor.
pub fn pager<Q>(
    path: &'static str,
    asked: Memo<Result<Q, ConsoleError>>,
) -> (Signal<Option<String>>, Callback<String, String>)
where
    Q: Paged + Default + PartialEq + Send + Sync + 'static,
{
    let current = move || asked.get().unwrap_or_default();
    let newest = Signal::derive(move || {
        let q = current();
        (!q.is_first_page()).then(|| href(path, &q.at(None)))
    });
    let older = Callback::new(move |cursor: String| href(path, &current().at(Some(&cursor))));
    (newest, older)
}

/// The signed-in user, loaded once by the layout for every page in it.
#[derive(Clone, Copy)]
pub struct SignedIn(pub OnceResource<Result<Option<UserOut>, ConsoleError>>);

/// The layout's [`SignedIn`] (pages are drawn inside the layout; one drawn
/// outside it loads the user itself).
pub fn signed_in() -> SignedIn {
    use_context::<SignedIn>()
        .unwrap_or_else(|| SignedIn(OnceResource::new(crate::auth::current_user())))
}

/// `children` only when the signed-in user's role allows `permission`: a
/// page offers only what its user may do (the server checks again).
#[component]
pub fn Allowed(permission: Permission, children: ChildrenFn) -> impl IntoView {
    let user = signed_in().0;
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                    let allowed = matches!(user.await, Ok(Some(u)) if u.role.allows(permission));
                    allowed.then(|| children())
                })
            }}
        </Suspense>
    }
}
