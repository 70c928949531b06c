//! Enumerations on a client: Enumerate, then Pull until the end, a limit or the caller stops,
//! releasing what is left. Apart from the single-message operations of `client.rs`.

use super::*;

impl Client {
    /// The first `limit` items of an enumeration (Enumerate, then Pull while fewer have come),
    /// releasing the enumeration when more remain: a page that shows the newest N records of
    /// a large log reads N, not the log.
    pub async fn enumerate_first(
        &self,
        resource: &Resource,
        options: &EnumerateOptions,
        limit: usize,
    ) -> Result<Vec<Element>, ClientError> {
        let mut options = options.clone();
        options.max_elements = options
            .max_elements
            .min(u32::try_from(limit.max(1)).unwrap_or(u32::MAX));
        let mut page = self.first_page(resource, &options).await?;
        let mut items = std::mem::take(&mut page.items);
        let mut pulls = 0usize;
        while let Some(context) = page.context.take().filter(|_| !page.end) {
            pulls += 1;
            if items.len() >= limit || pulls > enumerate::MAX_PULLS {
                let _ = self
                    .operation(
                        action::RELEASE,
                        resource,
                        &enumerate::release_body(&context),
                    )
                    .await;
                break;
            }
            let body = self
                .operation(
                    action::PULL,
                    resource,
                    &enumerate::pull_body(&context, &options),
                )
                .await?;
            let body = Self::required(body, "Pull")?;
            page = enumerate::read_pull_response(body)?;
            items.append(&mut page.items);
        }
        items.truncate(limit);
        Ok(items)
    }

    /// The Enumerate that opens an enumeration: its first page.
    async fn first_page(
        &self,
        resource: &Resource,
        options: &EnumerateOptions,
    ) -> Result<enumerate::Page, ClientError> {
        let body = enumerate::enumerate_body(options);
        let first = self.operation(action::ENUMERATE, resource, &body).await?;
        enumerate::read_enumerate_response(Self::required(first, "Enumerate")?)
    }

    /// Like [`Client::enumerate`], but each item is handed to `each` as its page is read,
    /// without an `Element` tree per item: a plain UTF-8 response is read in one pass into a
    /// [`FlatPage`] (reused from page to page); any other (another charset, a fault) is read
    /// the general way and its items handed over as elements. For callers that only print or
    /// count the items (`winrm enumerate`). Returns how many items there were; the limits and
    /// errors are those of [`Client::enumerate`] (a caller that must show nothing on an error
    /// keeps what `each` made until this returns `Ok`).
    pub async fn enumerate_each(
        &self,
        resource: &Resource,
        options: &EnumerateOptions,
        mut each: impl FnMut(EnumeratedItem<'_>),
    ) -> Result<usize, ClientError> {
        let mut flat = FlatPage::default();
        let mut total = 0usize;
        let body = enumerate::enumerate_body(options);
        let mut next = self
            .enumeration_page(resource, &body, false, &mut flat, &mut each, &mut total)
            .await?;
        let mut pulls = 0usize;
        while let Some(context) = next {
            pulls += 1;
            if total > options.max_items || pulls > enumerate::MAX_PULLS {
                return Err(self.abandon(resource, &context, options).await);
            }
            let body = enumerate::pull_body(&context, options);
            next = self
                .enumeration_page(resource, &body, true, &mut flat, &mut each, &mut total)
                .await?;
        }
        if total > options.max_items {
            return Err(too_many_items(options));
        }
        Ok(total)
    }

    /// An enumeration past the caller's bounds: released on the server (best effort, so its
    /// context does not wait out its expiry there) and answered with the error.
    async fn abandon(
        &self,
        resource: &Resource,
        context: &str,
        options: &EnumerateOptions,
    ) -> ClientError {
        let _ = self
            .operation(action::RELEASE, resource, &enumerate::release_body(context))
            .await;
        ClientError::protocol(format!(
            "the enumeration exceeds {} items or {} pulls",
            options.max_items,
            enumerate::MAX_PULLS
        ))
    }

    /// One Enumerate (`pull` false) or Pull round trip of [`Client::enumerate_each`]: its
    /// items handed to `each`; returns the context to pull next, `None` at the end.
    async fn enumeration_page(
        &self,
        resource: &Resource,
        body: &str,
        pull: bool,
        flat: &mut FlatPage,
        each: &mut impl FnMut(EnumeratedItem<'_>),
        total: &mut usize,
    ) -> Result<Option<String>, ClientError> {
        let header = self.header(
            if pull {
                action::PULL
            } else {
                action::ENUMERATE
            },
            resource,
        );
        let reply = self.send_raw(&header, body).await?;
        let utf8 = reply
            .content_type
            .as_deref()
            .and_then(wsman_proto::charset::charset_param)
            .is_none_or(|c| c.eq_ignore_ascii_case("utf-8") || c.eq_ignore_ascii_case("utf8"));
        let plain =
            utf8 && (200..300).contains(&reply.status) && !reply.body.starts_with(b"\xef\xbb\xbf");
        let read = plain
            .then(|| std::str::from_utf8(&reply.body).ok())
            .flatten()
            .and_then(|text| flat.read(text, &header.message_id, pull));
        if read.is_some() {
            for item in flat.items() {
                each(EnumeratedItem::Flat(item));
            }
            *total += flat.len();
            return Ok(flat.context.take().filter(|_| !flat.end));
        }
        let what = if pull { "Pull" } else { "Enumerate" };
        let body = Self::required(response::interpret(&reply, Some(&header.message_id))?, what)?;
        let mut page = if pull {
            enumerate::read_pull_response(body)?
        } else {
            enumerate::read_enumerate_response(body)?
        };
        for item in &page.items {
            each(EnumeratedItem::Tree(item));
        }
        *total += page.items.len();
        Ok(page.context.take().filter(|_| !page.end))
    }

    /// Enumerate with OptimizeEnumeration, then Pull until EndOfSequence. Returns the items in
    /// order (objects, `a:EndpointReference`s or `w:Item`s, depending on the mode).
    pub async fn enumerate(
        &self,
        resource: &Resource,
        options: &EnumerateOptions,
    ) -> Result<Vec<Element>, ClientError> {
        let mut page = self.first_page(resource, options).await?;
        let mut items = std::mem::take(&mut page.items);
        let mut pulls = 0usize;
        while let Some(context) = page.context.take().filter(|_| !page.end) {
            pulls += 1;
            if items.len() > options.max_items || pulls > enumerate::MAX_PULLS {
                return Err(self.abandon(resource, &context, options).await);
            }
            let body = self
                .operation(
                    action::PULL,
                    resource,
                    &enumerate::pull_body(&context, options),
                )
                .await?;
            let body = Self::required(body, "Pull")?;
            page = enumerate::read_pull_response(body)?;
            items.append(&mut page.items);
        }
        if items.len() > options.max_items {
            return Err(too_many_items(options));
        }
        Ok(items)
    }
}

/// The error of an enumeration that ended with more items than the caller allows.
fn too_many_items(options: &EnumerateOptions) -> ClientError {
    ClientError::protocol(format!(
        "the enumeration exceeds {} items",
        options.max_items
    ))
}
